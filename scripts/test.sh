#!/usr/bin/env bash
# The whole test suite against real peers (Mosquitto, the simulator over TCP and RTU, HTTPS).
# Extra arguments go to pytest, e.g. --long for the long modes, or -m "not slow" for the fast tests alone.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
PY="${DIAG_AGENT_VENV:-$ROOT/.venv}/bin/python"
# The code first: lint, format and types, each with its committed configuration (pyproject.toml).
"$PY" -m ruff check --quiet .
"$PY" -m ruff format --check --quiet .
"$PY" -m mypy
# Every tier (tests/unit, integration, system, browser, contract); `pytest` alone runs the unit tier.
exec "$PY" -m pytest tests "$@"
