#!/usr/bin/env bash
# The tests: set everything up, then run the whole test suite (real database, real Sacred
# runs, real MuJoCo rendering, real Omniboard). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest tests "$@"
