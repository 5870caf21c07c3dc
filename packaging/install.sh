#!/usr/bin/env bash
# Put diag-agent on a box: a virtual environment under /opt/diag-agent, the configuration under
# /etc/diag-agent (an existing one is kept), the systemd unit installed and enabled.
#   packaging/install.sh [--root DIR] [--now] [--no-apt] [--files-only]
# --root DIR installs into a staging folder instead of / (how the tests check it); --now also starts it;
# --no-apt installs no Debian packages (those below must be there already); --files-only lays down the
# venv and the files and stops: no user, no enabled unit (the Debian package's build, packaging/build_deb.sh,
# runs it inside a Debian root of the board's architecture; the package's postinst does the rest).
#
# Boards and systems: Debian 12 (bookworm) and Raspberry Pi OS (bookworm), 32-bit armhf (Pi 2, 3, Zero 2 W),
# 64-bit arm64 (Pi 3, 4, 5) and amd64. A box has no compiler and needs none: the dependencies with C parts
# come from Debian's packages (PyPI has no armhf wheels for psutil, nor for PyYAML's C part), into a
# virtual environment that sees them (--system-site-packages); the pure-Python rest comes from PyPI within
# the ranges in pyproject.toml. Inside a firmware image build (a chroot, no running systemd, as pi-gen
# does) the unit is enabled offline and nothing is started.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=""
START=no
APT=yes
FILES_ONLY=no
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=$(realpath -m "$2"); shift 2 ;;
    --now) START=yes; shift ;;
    --no-apt) APT=no; shift ;;
    --files-only) FILES_ONLY=yes; APT=no; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

# Debian's Python, where the Debian packages below are visible; elsewhere whatever python3 is first.
PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
# Compiled dependencies from Debian: psutil (C), PyYAML (its C loader); python3-venv brings venv and pip.
DEBIAN_PACKAGES=(python3 python3-venv python3-psutil python3-yaml ca-certificates)
if [ "$APT" = yes ] && [ -z "$ROOT" ] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "install: Debian packages (compiled parts, no compiler needed): ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
             --no-install-recommends "${missing[@]}" >/dev/null; }
  fi
fi

PREFIX="$ROOT/opt/diag-agent"
ETC="$ROOT/etc/diag-agent"
# The vendor's place for a unit; a box's own changes go into drop-ins (/etc/systemd/system/diag-agent.service.d).
UNIT_DIR="$ROOT/lib/systemd/system"
SYSUSERS_DIR="$ROOT/usr/lib/sysusers.d"

echo "install: virtual environment in $PREFIX/venv ($($PYTHON --version), $(uname -m)), seeing the system's packages"
mkdir -p "$PREFIX"
"$PYTHON" -m venv --system-site-packages "$PREFIX/venv"
# --prefer-binary: a wheel, or what the system has, before any source that would need a compiler;
# -c: the versions the tests ran against.
"$PREFIX/venv/bin/pip" install -q --disable-pip-version-check --prefer-binary -c "$SRC/constraints.txt" "$SRC"
"$PREFIX/venv/bin/python" - <<'EOF'
import importlib.metadata as md
import psutil, yaml  # noqa: F401  (both import: the compiled parts are there)
print("install: " + ", ".join(f"{n} {md.version(n)}" for n in ("diag-agent", "psutil", "PyYAML", "paho-mqtt", "pymodbus")))
EOF
install -m 0644 "$SRC/README.md" "$PREFIX/README.md"
# The shipped firmware hooks; a firmware that brings its own replaces them here. hooks/ocpp/ holds the glue
# for an OCPP charge point (a Python module, not a hook: not executable).
mkdir -p "$PREFIX/hooks/ocpp"
for hook in "$SRC"/firmware_hooks/*; do
  [ -f "$hook" ] && install -m 0755 "$hook" "$PREFIX/hooks/"
done
chmod 0644 "$PREFIX/hooks/README.md"
install -m 0644 "$SRC"/firmware_hooks/ocpp/*.py "$PREFIX/hooks/ocpp/"
install -m 0755 "$SRC"/firmware_hooks/ocpp/*.sh "$PREFIX/hooks/ocpp/"

mkdir -p "$ETC/profiles"
if [ -e "$ETC/agent.yaml" ]; then
  echo "install: keeping the existing $ETC/agent.yaml"
else
  install -m 0640 "$SRC/config/agent.yaml" "$ETC/agent.yaml"
  echo "install: example configuration in $ETC/agent.yaml: set the serial, buses, devices and backend"
fi
# Shipped profiles are ours and get updated; profiles the installer added under other names stay.
install -m 0644 "$SRC"/config/profiles/*.yaml "$ETC/profiles/"

install -D -m 0644 "$SRC/systemd/diag-agent.service" "$UNIT_DIR/diag-agent.service"
install -D -m 0644 "$SRC/systemd/diag-agent.sysusers" "$SYSUSERS_DIR/diag-agent.conf"
# An earlier install put the unit where the box's own units go; it would hide this one.
if grep -qs "^Description=diag-agent" "$ROOT/etc/systemd/system/diag-agent.service"; then
  rm -f "$ROOT/etc/systemd/system/diag-agent.service" "$ROOT/etc/systemd/system/multi-user.target.wants/diag-agent.service"
fi
[ "$FILES_ONLY" = yes ] && { echo "install: files laid down (no user, no unit enabled)"; exit 0; }

if [ -n "$ROOT" ]; then
  systemctl --root="$ROOT" enable diag-agent.service
  echo "install: staged in $ROOT"
  exit 0
fi
systemd-sysusers "$SYSUSERS_DIR/diag-agent.conf"
chgrp diag-agent "$ETC/agent.yaml"   # it may hold the MQTT password: root and the agent only
if [ ! -d /run/systemd/system ]; then
  # An image build (a chroot) or a container without systemd: enable by links, start at the first boot.
  systemctl --root=/ enable diag-agent.service
  echo "install: no running systemd here (an image build?): the unit is enabled and starts at boot"
  exit 0
fi
systemctl daemon-reload
systemctl enable diag-agent.service
if [ "$START" = yes ]; then
  systemctl restart diag-agent.service
fi
echo "install: done. Check the configuration with: $PREFIX/venv/bin/diag-agent check-config $ETC/agent.yaml"
echo "install: then start it with: systemctl start diag-agent"
