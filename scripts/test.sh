#!/usr/bin/env bash
# The whole test suite against real peers (Mosquitto, the simulator over TCP and RTU, HTTPS).
# Arguments go to pytest instead of the whole run, e.g. tests/unit tests/contract (the quick loop) or --long.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
PY="${DIAG_AGENT_VENV:-$ROOT/.venv}/bin/python"
# The code first: lint, format and types, each with its committed configuration (pyproject.toml).
"$PY" -m ruff check --quiet .
"$PY" -m ruff format --check --quiet .
"$PY" -m mypy
# With arguments, pytest on them (`bash scripts/test.sh tests/unit tests/contract`: the quick loop).
if [ $# -gt 0 ]; then exec "$PY" -m pytest "$@"; fi
# Every tier. Unit, contract, integration and browser two at a time (each test starts its own peers on free ports
# in its own folder); then the system tier alone, one test at a time (Debian roots, packages, a booted container,
# power cuts, kills: each wants the machine to itself), with the few marked `alone` (a thousand connections, an order
# of deliveries after an outage).
"$PY" -m pytest tests -m "not system and not alone" -n 2
exec "$PY" -m pytest tests -m "system or alone"
