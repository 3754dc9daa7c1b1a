#!/usr/bin/env bash
# The main job: set everything up, run the smoke suite end to end (runs -> MongoDB), then a
# short learning demo (LatCo vs random on pm_reach at the `mini` profile, 2 runs at a time),
# write both reports, and say where they are and how to browse the runs in Omniboard.
# The smoke suite runs two at a time (one core each on 2 cores). Extra arguments go to its
# `run_suite.py run`, e.g. `scripts/smoke.sh --max-parallel 1`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
status=0
.venv/bin/python run_suite.py run --suite smoke --max-parallel 2 "$@" || status=$?
.venv/bin/python run_suite.py run --suite learn_demo --max-parallel 2 || status=$?
.venv/bin/python run_suite.py report --suite smoke
.venv/bin/python run_suite.py report --suite learn_demo
.venv/bin/python -m bench.learning --suite learn_demo --no-run || true
echo
echo "Browse the runs:  .venv/bin/python run_suite.py omniboard   (then open http://127.0.0.1:9000/sacred)"
exit $status
