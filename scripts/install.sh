#!/usr/bin/env bash
# Put diag-agent on a box: a virtual environment under /opt/diag-agent, the configuration under
# /etc/diag-agent (an existing one is kept), the systemd unit installed and enabled.
#   scripts/install.sh [--root DIR] [--now]
# --root DIR installs into a staging folder instead of / (how the tests check it); --now also starts it.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=""
START=no
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=$(realpath -m "$2"); shift 2 ;;
    --now) START=yes; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

PREFIX="$ROOT/opt/diag-agent"
ETC="$ROOT/etc/diag-agent"
UNIT_DIR="$ROOT/etc/systemd/system"
SYSUSERS_DIR="$ROOT/usr/lib/sysusers.d"

echo "install: virtual environment in $PREFIX/venv"
mkdir -p "$PREFIX"
python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q --disable-pip-version-check "$SRC"
install -m 0644 "$SRC/README.md" "$PREFIX/README.md"
# The shipped firmware hooks; a firmware that brings its own replaces them here.
mkdir -p "$PREFIX/hooks"
install -m 0755 "$SRC"/firmware_hooks/* "$PREFIX/hooks/"
chmod 0644 "$PREFIX/hooks/README.md"

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

if [ -n "$ROOT" ]; then
  systemctl --root="$ROOT" enable diag-agent.service
  echo "install: staged in $ROOT"
  exit 0
fi
systemd-sysusers "$SYSUSERS_DIR/diag-agent.conf"
chgrp diag-agent "$ETC/agent.yaml"   # it may hold the MQTT password: root and the agent only
systemctl daemon-reload
systemctl enable diag-agent.service
if [ "$START" = yes ]; then
  systemctl restart diag-agent.service
fi
echo "install: done. Check the configuration with: $PREFIX/venv/bin/diag-agent check-config $ETC/agent.yaml"
echo "install: then start it with: systemctl start diag-agent"
