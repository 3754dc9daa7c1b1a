"""Offline episodes from MetaWorld's scripted expert policies, in the suite's episode format.

The original release downloads offline data for hammer and thermos from a drive users cannot
reach; these episodes replace it. The expert acts on the low-dimensional state (the agents
never see it), with Gaussian action noise so the data covers more than one trajectory.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

import envs
from agents.timing import PhaseClock
from envs.episodes import save_episode


class NoisyExpert:
    """The agent protocol around a MetaWorld scripted policy (acting only: ``clock``, ``reset``
    and ``act`` are what :func:`agents.loop.play_episode` uses)."""

    def __init__(self, env_name: str, noise: float, seed: int):
        from metaworld.policies import ENV_POLICY_MAP

        self.clock = PhaseClock()
        self._policy = ENV_POLICY_MAP[env_name]()
        self._noise = noise
        self._rng = np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def act(self, observation: Mapping[str, np.ndarray], training: bool) -> np.ndarray:
        action = self._policy.get_action(observation["state"].astype(np.float64))
        action = action + self._rng.normal(0.0, self._noise, action.shape)
        return np.clip(action, -1.0, 1.0).astype(np.float32)


def generate_offline_episodes(
    config: Mapping[str, Any], out: Path, episodes: int, noise: float
) -> dict[str, int]:
    """Roll out ``episodes`` noisy expert episodes of a MetaWorld task into ``out``."""
    from agents.loop import play_episode
    from envs.factory import EnvSettings

    settings = EnvSettings.from_config(config)
    if settings.env_family != "metaworld":
        raise ValueError(f"offline data needs a MetaWorld task, got env_family={settings.env_family}")
    env = envs.make(settings)
    expert = NoisyExpert(settings.env_name, noise, settings.seed)
    successes = 0
    for index in tqdm(range(episodes), desc=f"offline {settings.env_name}", unit="episode"):
        episode, summary = play_episode(env, expert, training=True)
        save_episode(out, episode, index)
        successes += int(summary["success"])
    env.close()
    return {"episodes": episodes, "successes": successes}
