#!/usr/bin/env bash
# The whole test suite against real peers (Mosquitto, the simulator over TCP and RTU, HTTPS).
# Extra arguments go to pytest, e.g. --long for the long modes.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "${DIAG_AGENT_VENV:-$ROOT/.venv}/bin/python" -m pytest "$@"
