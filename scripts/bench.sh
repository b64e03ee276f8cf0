#!/usr/bin/env bash
# Run the benchmarks (issue 8): one table side by side with the targets; results in benchmarks/results.{json,md}.
# Needs root (benchmarks/run.py starts its own private dockerd, and Xvfb + trayer when DISPLAY is unset).
# This wrapper installs what is needed and adds a D-Bus session (AppIndicator tray backend), like scripts/test.sh.
# Extra arguments go to benchmarks/run.py, e.g.  scripts/bench.sh --quick
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh test
export PYTHONDONTWRITEBYTECODE=1
exec dbus-run-session -- .venv/bin/python -m benchmarks.run "$@"
