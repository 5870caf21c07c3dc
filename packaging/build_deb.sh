#!/usr/bin/env bash
# The Debian package of diag-agent, for one board architecture:
#   packaging/build_deb.sh ARCH [OUT_DIR]     ARCH: amd64, arm64 or armhf; OUT_DIR: where the .deb goes (./dist)
# What dh-virtualenv does, without a source package: inside a fresh Debian 12 root of ARCH (packaging/debian_root.sh;
# a foreign one runs under qemu-user), packaging/install.sh --files-only lays down the venv at its real path
# (/opt/diag-agent/venv, the board's own Python, the versions in constraints.txt) and the files beside it;
# dpkg-deb then packs them with packaging/deb/'s maintainer scripts. The package needs no network to install:
# everything but Debian's python3, python3-psutil and python3-yaml (compiled for the board) is inside.
# The build itself reaches PyPI (or the pip index the host's /etc/pip.conf names). Prints the .deb's path.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ARCH=${1:?usage: build_deb.sh ARCH [OUT_DIR]}
OUT=$(realpath -m "${2:-$SRC/dist}")
case "$ARCH" in amd64|arm64|armhf) ;; *) echo "build_deb: ARCH must be amd64, arm64 or armhf, not $ARCH" >&2; exit 2 ;; esac
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$SRC/pyproject.toml")-1
DEB="$OUT/diag-agent_${VERSION}_${ARCH}.deb"

WORK=$(mktemp -d /var/tmp/diag-agent-deb.XXXXXX)
ROOT="$WORK/root"
STAGE="$WORK/stage"
mounts=()
cleanup() {
  for m in "${mounts[@]}"; do umount -R -l "$m" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

bash "$SRC/packaging/debian_root.sh" "$ARCH" "$ROOT" >/dev/null
# The source as a checkout holds it: tracked files and new ones, never venvs, caches or earlier builds.
mkdir "$ROOT/src"
if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$SRC" && git ls-files -z -c -o --exclude-standard | tar --null -T - -cf -) | tar -C "$ROOT/src" -xf -
else
  tar -C "$SRC" --exclude='./.venv*' --exclude=./dist --exclude='*/__pycache__' -cf - . | tar -C "$ROOT/src" -xf -
fi
for what in proc sys dev; do
  case $what in proc) mount -t proc proc "$ROOT/proc" ;; *) mount --rbind "/$what" "$ROOT/$what" ;; esac
  mounts+=("$ROOT/$what")
done
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
  bash /src/packaging/install.sh --files-only >"$WORK/install.log" 2>&1 \
  || { tail -30 "$WORK/install.log" >&2; echo "build_deb: the install inside the $ARCH root failed" >&2; exit 1; }
for m in "${mounts[@]}"; do umount -R -l "$m"; done
mounts=()

# What the package holds: the venv and hooks, the configuration, the unit, the sysusers entry, a command.
mkdir -p "$STAGE/opt" "$STAGE/etc" "$STAGE/usr/bin" "$STAGE/DEBIAN"
cp -a "$ROOT/opt/diag-agent" "$STAGE/opt/"
cp -a "$ROOT/etc/diag-agent" "$STAGE/etc/"
install -D -m 0644 "$ROOT/lib/systemd/system/diag-agent.service" "$STAGE/lib/systemd/system/diag-agent.service"
install -D -m 0644 "$ROOT/usr/lib/sysusers.d/diag-agent.conf" "$STAGE/usr/lib/sysusers.d/diag-agent.conf"
ln -s /opt/diag-agent/venv/bin/diag-agent "$STAGE/usr/bin/diag-agent"
# pip and setuptools install things; a box installs nothing into this venv, packages replace it whole.
site=$(echo "$STAGE"/opt/diag-agent/venv/lib/python3*/site-packages)
rm -rf "$site"/pip "$site"/pip-* "$site"/setuptools "$site"/setuptools-* "$site"/pkg_resources \
  "$site"/_distutils_hack "$site"/distutils-precedence.pth "$STAGE"/opt/diag-agent/venv/bin/pip*
install -D -m 0644 "$SRC/README.md" "$STAGE/usr/share/doc/diag-agent/README.md"
install -D -m 0644 "$SRC/packaging/deb/copyright" "$STAGE/usr/share/doc/diag-agent/copyright"

python=$(sed -n 's/^version = \([0-9]*\.[0-9]*\).*/\1/p' "$STAGE/opt/diag-agent/venv/pyvenv.cfg")
next=$(echo "$python" | awk -F. '{print $1 "." $2 + 1}')
cat >"$STAGE/DEBIAN/control" <<EOF
Package: diag-agent
Version: $VERSION
Architecture: $ARCH
Maintainer: diag-agent developers <diag-agent@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
Depends: python3 (>= $python), python3 (<< $next), python3-psutil (>= 5.9), python3-yaml (>= 6.0), ca-certificates, systemd (>= 252), init-system-helpers (>= 1.52), passwd
Section: admin
Priority: optional
Description: diagnostics agent and system reports for EV wallboxes
 Polls the wallbox's Modbus meter and charge controller, watches the network
 and the installed software, and on a fault or on request builds a compressed
 system report and delivers it to the manufacturer's support backend.
 .
 Ships its own Python virtual environment in /opt/diag-agent/venv with the
 library versions it was tested with (constraints.txt).
EOF
(cd "$STAGE" && find etc -type f | sed 's|^|/|' | sort) >"$STAGE/DEBIAN/conffiles"
install -m 0755 "$SRC"/packaging/deb/postinst "$SRC"/packaging/deb/prerm "$SRC"/packaging/deb/postrm "$STAGE/DEBIAN/"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
  >"$STAGE/DEBIAN/md5sums"

mkdir -p "$OUT"
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >/dev/null
echo "$DEB"
