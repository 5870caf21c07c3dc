#!/usr/bin/env bash
# Install what the demo and the tests need on Debian 12: Debian packages when missing, then a
# virtual environment (.venv) with diag-agent and its test dependencies. Safe to run again.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${DIAG_AGENT_VENV:-$ROOT/.venv}

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have mosquitto || need+=(mosquitto)
have socat || need+=(socat)
have mbpoll || need+=(mbpoll)
have openssl || need+=(openssl)
have systemd-analyze || need+=(systemd)
have chromium || need+=(chromium)  # the tests render report.html and drive the local page
# The checks on the real thing: Debian ARM roots under qemu-user, the unit under a booted systemd.
have debootstrap || need+=(debootstrap)
have qemu-arm-static || need+=(qemu-user-static)
have update-binfmts || need+=(binfmt-support)
have systemd-nspawn || need+=(systemd-container)
# The power-cut test puts the state folder on an ext4 image behind a loop device; the bench counts the
# daemon's writes to its state folder with strace.
have mkfs.ext4 || need+=(e2fsprogs)
have losetup || need+=(mount)
have strace || need+=(strace)
# The backend's side in the tests, the demo's --serve and the bench: the intake's and the helpdesk's
# database (started as the postgres account, in a temporary folder, on a free port).
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
have runuser || need+=(util-linux)
# The proxy test: the box in a network namespace where only the site's proxy reaches the backend.
have tinyproxy || need+=(tinyproxy)
have ip || need+=(iproute2)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# amqtt, the MQTT 3.1.1-only broker the tests also run against, in a venv of its own: its pins (psutil,
# websockets) are not the agent's business.
AMQTT_VENV=${DIAG_AGENT_AMQTT_VENV:-$ROOT/.venv-amqtt}
if [ ! -x "$AMQTT_VENV/bin/amqtt" ]; then
  echo "setup: installing amqtt (a test broker) in $AMQTT_VENV"
  python3 -m venv "$AMQTT_VENV"
  "$AMQTT_VENV/bin/pip" install -q --disable-pip-version-check "amqtt>=0.11,<0.13"
fi

# Reinstall only when the dependencies change. The box's libraries at the versions the box gets
# (constraints.txt); the test tools within pyproject's ranges.
stamp="$VENV/.installed-$(cat "$ROOT"/pyproject.toml "$ROOT"/{backend,rigs,tools,firmware_hooks/ocpp}/pyproject.toml "$ROOT/constraints.txt" | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  echo "setup: creating the virtual environment in $VENV"
  python3 -m venv "$VENV"
  # The box (agent), support's backend, the test rigs and the tools: four distributions, each editable.
  "$VENV/bin/pip" install -q --disable-pip-version-check -c "$ROOT/constraints.txt" -e "$ROOT[test]" \
    -e "$ROOT/backend" -e "$ROOT/rigs" -e "$ROOT/tools" -e "$ROOT/firmware_hooks/ocpp"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
