#!/usr/bin/env bash
# The main job: set everything up, run the smoke suite end to end (runs -> MongoDB), write
# the report, and say where it is and how to browse the runs in Omniboard.
# Extra arguments go to `run_suite.py run`, e.g. `scripts/smoke.sh --max-parallel 2`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
status=0
.venv/bin/python run_suite.py run --suite smoke "$@" || status=$?
.venv/bin/python run_suite.py report --suite smoke
echo
echo "Browse the runs:  .venv/bin/python run_suite.py omniboard   (then open http://127.0.0.1:9000/sacred)"
exit $status
