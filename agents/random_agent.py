"""Uniform random actions: the floor of every plot, and an agent that needs no model."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import Agent
from agents.timing import PhaseClock
from envs.episodes import ReplaySampler


class RandomAgent(Agent):
    def __init__(self, action_dim: int, seed: int):
        self.clock = PhaseClock()
        self._rng = np.random.default_rng(seed)
        self._action_dim = action_dim

    def reset(self) -> None:
        pass

    def act(self, observation: Mapping[str, np.ndarray], training: bool) -> np.ndarray:
        return self._rng.uniform(-1.0, 1.0, self._action_dim).astype(np.float32)

    def train(self, replay: ReplaySampler, updates: int) -> dict[str, float]:
        return {}

    def diagnostics(self) -> dict[str, Any]:
        return {}

    def save(self, directory: Path) -> None:
        pass  # nothing learned; the loop state and episodes are saved by the loop

    def restore(self, directory: Path) -> None:
        pass
