"""Tests that render MuJoCo scenes in the test process itself.

Mesa's software OpenGL and TensorFlow crash when loaded into one process (envs/isolated.py),
so these tests run in a pytest session of their own, without TensorFlow: scripts/test.sh
runs ``pytest tests/rendering`` and then the rest of ``tests``.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if "tensorflow" in sys.modules:
    pytest.exit(
        "tests/rendering must run in a pytest process without TensorFlow: use scripts/test.sh, "
        "or run `pytest tests/rendering` on its own", returncode=4,
    )
