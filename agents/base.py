"""What the training loop needs from an agent; every method implements this protocol."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agents.timing import PhaseClock
from envs.episodes import ReplaySampler


class Agent(Protocol):
    """An acting-and-learning agent driven by :func:`agents.loop.train_and_evaluate`.

    ``clock`` is the run's phase clock (agents/timing.py), made in the agent's constructor: the
    agent times its own phases on it (``filter``, ``plan``) and the loop times the rest, so
    one clock sees the whole run.
    """

    clock: PhaseClock

    def reset(self) -> None:
        """A new episode starts: drop any cached plan."""

    def act(self, observation: Mapping[str, np.ndarray], training: bool) -> np.ndarray:
        """The action for this observation (with exploration noise if training), in [-1, 1]
        except under the single-frame evaluation protocol (benchmark/evaluation.py)."""

    def train(self, replay: ReplaySampler, updates: int) -> dict[str, float]:
        """Run ``updates`` learning steps on replay; return metrics to log (may be empty)."""

    def diagnostics(self) -> dict[str, Any]:
        """Metrics gathered while acting since the last call (e.g. planner statistics)."""

    def save(self, directory: Path) -> None:
        """Write everything needed to continue (weights, optimiser state) into ``directory``."""

    def restore(self, directory: Path) -> None:
        """Load what :meth:`save` wrote; the agent then acts as the trained one did."""
