"""What the training loop needs from an agent; every method implements this base.

The loop, the evaluation and the experiment call every method here unconditionally: optional
capabilities (held-out diagnostics, episode videos, the single-frame evaluation protocol) are
declared with no-op defaults rather than looked up with ``hasattr``, so renaming one is an
``AttributeError`` at the call or a failing test (tests/test_agent_skeleton.py asks the
world-model agents for their videos and diagnostics), never silently missing videos. An agent
missing one of the abstract methods cannot be constructed (``TypeError``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agents.timing import PhaseClock
from envs.episodes import ReplaySampler

CurveLogger = Callable[[str, float, int], None]  # (metric name, value, x): the run's log, e.g. opt/* curves


class Agent(abc.ABC):
    """An acting-and-learning agent driven by :func:`agents.loop.train_and_evaluate`.

    ``clock`` is the run's phase clock (agents/timing.py), made in the agent's constructor: the
    agent times its own phases on it (``filter``, ``plan``) and the loop times the rest, so
    one clock sees the whole run. An agent that logs per-iteration optimisation curves takes
    the run's :data:`CurveLogger` as a constructor argument (agents/registry.py ``build_agent``).
    """

    clock: PhaseClock

    @abc.abstractmethod
    def reset(self) -> None:
        """A new episode starts: drop any cached plan."""

    @abc.abstractmethod
    def act(self, observation: Mapping[str, np.ndarray], training: bool) -> np.ndarray:
        """The action for this observation (with exploration noise if training), in [-1, 1]
        except under the single-frame evaluation protocol (benchmark/evaluation.py)."""

    @abc.abstractmethod
    def train(self, replay: ReplaySampler, updates: int) -> dict[str, float]:
        """Run ``updates`` learning steps on replay; return metrics to log (may be empty)."""

    @abc.abstractmethod
    def diagnostics(self) -> dict[str, Any]:
        """Metrics gathered while acting since the last call (e.g. planner statistics)."""

    @abc.abstractmethod
    def save(self, directory: Path) -> None:
        """Write everything needed to continue (weights, optimiser state) into ``directory``."""

    @abc.abstractmethod
    def restore(self, directory: Path) -> None:
        """Load what :meth:`save` wrote; the agent then acts as the trained one did."""

    # --- optional capabilities: the loop calls them on every agent ---------------------------

    def episode_diagnostics(self, episode: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Metrics of the episode just collected, before it enters replay (held out from every
        update); none by default."""
        return {}

    def episode_video(self) -> np.ndarray | None:
        """Frames [T, H, W, 3] uint8 of the episode just played, or None (the default: no video)."""
        return None

    def use_single_frame_protocol(self) -> None:
        """Act as the original's ``eval.py`` did from now on (``eval_filter: single_frame``).
        An agent that filters no observations (random) acts the same under both protocols."""
        return None
