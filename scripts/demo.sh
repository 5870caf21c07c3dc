#!/usr/bin/env bash
# The main job: the agent against a simulated wallbox and the reference support intake.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
exec "${DIAG_AGENT_VENV:-$ROOT/.venv}/bin/python" -m tools.demo "$@"
