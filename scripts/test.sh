#!/usr/bin/env bash
# The tests: set everything up, then run the whole test suite (real database, real Sacred
# runs, real MuJoCo rendering, real Omniboard). Extra arguments go to both pytest sessions.
# Two sessions because MuJoCo rendering with Mesa and TensorFlow cannot share a process:
# tests/rendering renders in-process; everything else runs environments in child processes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/python -m pytest tests/rendering "$@"
exec .venv/bin/python -m pytest tests --ignore=tests/rendering "$@"
