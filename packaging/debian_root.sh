#!/usr/bin/env bash
# A Debian 12 root for checks on another architecture or under a booted systemd, built once and cached.
#   packaging/debian_root.sh ARCH DIR      ARCH: armhf, arm64 or amd64; DIR: where to unpack it (made anew)
# The first call per architecture runs debootstrap (a foreign one under qemu-user-static through binfmt)
# and keeps a tarball in $DIAG_AGENT_ROOTS (default /var/cache/diag-agent/roots); later calls unpack it.
# The root holds what a box's image holds before our install: Python 3.11 with venv, the compiled
# dependencies from Debian (psutil, PyYAML) and systemd. All from Debian's packages.
set -euo pipefail
ARCH=${1:?usage: debian_root.sh ARCH DIR}
DIR=${2:?usage: debian_root.sh ARCH DIR}
case "$ARCH" in amd64|arm64|armhf) ;; *) echo "debian_root: ARCH must be amd64, arm64 or armhf, not $ARCH" >&2; exit 2 ;; esac
CACHE=${DIAG_AGENT_ROOTS:-/var/cache/diag-agent/roots}
TARBALL="$CACHE/bookworm-$ARCH.tar"
MIRROR=${DIAG_AGENT_MIRROR:-http://deb.debian.org/debian}
INCLUDE=python3,python3-venv,python3-psutil,python3-yaml,ca-certificates,systemd,systemd-sysv,dbus,systemd-timesyncd

need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ "$ARCH" != amd64 ]; then
  command -v qemu-arm-static >/dev/null || need+=(qemu-user-static)
  command -v update-binfmts >/dev/null || need+=(binfmt-support)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "debian_root: installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ "$ARCH" != amd64 ]; then
  # Foreign binaries run through binfmt_misc: mounted, and qemu registered for the architecture.
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  emulator=$([ "$ARCH" = armhf ] && echo qemu-arm || echo qemu-aarch64)
  [ -e "/proc/sys/fs/binfmt_misc/$emulator" ] || update-binfmts --enable "$emulator" >/dev/null
fi

if [ ! -s "$TARBALL" ]; then
  mkdir -p "$CACHE"
  build=$(mktemp -d "$CACHE/build-$ARCH.XXXXXX")
  echo "debian_root: debootstrap bookworm $ARCH (once; cached in $TARBALL)" >&2
  debootstrap --arch="$ARCH" --variant=minbase --include="$INCLUDE" bookworm "$build" "$MIRROR" >"$build.log" 2>&1 \
    || { tail -20 "$build.log" >&2; rm -rf "$build"; exit 1; }
  rm -rf "$build"/var/cache/apt/archives/*.deb
  chmod 0755 "$build"
  tar -C "$build" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
  rm -rf "$build" "$build.log"
fi
rm -rf "$DIR"
mkdir -p "$DIR"
tar -C "$DIR" -xf "$TARBALL"
chmod 0755 "$DIR"  # its / : mktemp made the build folder 0700, and users in it must get through /
cp /etc/resolv.conf "$DIR/etc/resolv.conf"  # pip inside reaches the package registry by name
# The host's trust (a proxy's CA, say) and pip settings (an index mirror) apply inside too.
cp /etc/ssl/certs/ca-certificates.crt "$DIR/etc/ssl/certs/ca-certificates.crt"
[ -e /etc/pip.conf ] && cp /etc/pip.conf "$DIR/etc/pip.conf"
echo "$DIR"
