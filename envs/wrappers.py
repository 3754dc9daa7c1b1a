"""Gymnasium wrappers the suite puts around every environment.

gymnasium already provides the time limit (TimeLimit) and action rescaling (RescaleAction);
action repeat and the sparse reward are the only ones written here, because gymnasium has
no generic action-repeat wrapper and "reward = success" is specific to Sparse MetaWorld.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class ActionRepeat(gym.Wrapper):
    """Repeat each action ``repeat`` times; sum the rewards, report the last sub-step's info.

    The success flag is the last sub-step's, as in the original (its info was the last
    sub-step's), so the sparse reward built on it is in {0, 1} (docs/protocol.md#success). Stops
    early when the episode ends inside the repeat, so no step is taken past the end.
    ``info['env_steps']`` counts the underlying environment steps actually taken.
    """

    def __init__(self, env: gym.Env, repeat: int):
        super().__init__(env)
        if repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {repeat}")
        self.repeat = repeat

    def step(self, action: Any):
        total_reward, taken = 0.0, 0
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total_reward += float(reward)
            taken += 1
            if terminated or truncated:
                break
        info = {**info, "success": bool(info.get("success", False)), "env_steps": taken}
        return obs, total_reward, terminated, truncated, info


class SparseReward(gym.Wrapper):
    """Replace the reward by ``info['success']`` (0 or 1): the paper's Sparse MetaWorld.

    Put outside :class:`ActionRepeat`, so one agent step pays the success flag of its last
    sub-step rather than a sum over sub-steps; ``info['dense_reward']`` keeps the summed
    shaped reward for diagnostics.
    """

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "dense_reward": float(reward)}
        return obs, float(bool(info["success"])), terminated, truncated, info


def image_observation_space(size: int, state_dim: int) -> gym.spaces.Dict:
    """The observation every task returns: a uint8 image and the low-dimensional state."""
    return gym.spaces.Dict(
        {
            "image": gym.spaces.Box(0, 255, (size, size, 3), dtype=np.uint8),
            "state": gym.spaces.Box(-np.inf, np.inf, (state_dim,), dtype=np.float32),
        }
    )
