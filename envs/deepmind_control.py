"""DeepMind Control Suite tasks as gymnasium environments with 64x64 image observations.

Protocol (docs/protocol.md#tasks, docs/protocol.md#cameras): camera 0 (quadruped: camera 2), action repeat 2 and 1000
environment steps per episode, both applied by the suite's wrappers. DMC rewards are dense,
so ``info['success']`` is always False: DMC tasks are reported by return.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from envs.rendering import make_renders_cheap
from envs.wrappers import image_observation_space

CAMERAS = {"quadruped": 2}


class DeepMindControl(gym.Env):
    """``env_name`` is ``domain-task``, e.g. ``reacher-easy``, ``cheetah-run``."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, env_name: str, seed: int, image_size: int = 64):
        from dm_control import suite

        domain, _, task = env_name.partition("-")
        if (domain, task) not in suite.ALL_TASKS:
            raise ValueError(
                f"unknown DeepMind Control task '{env_name}'; write domain-task, e.g. reacher-easy"
            )
        self._env = suite.load(domain, task, task_kwargs={"random": seed})
        make_renders_cheap(self._env.physics.model.ptr)
        self._camera = CAMERAS.get(domain, 0)
        self._size = image_size
        spec = self._env.action_spec()
        self._low, self._high = spec.minimum.astype(np.float32), spec.maximum.astype(np.float32)
        self.action_space = gym.spaces.Box(self._low, self._high, dtype=np.float32)
        state_dim = sum(int(np.prod(v.shape)) for v in self._env.observation_spec().values())
        self.observation_space = image_observation_space(image_size, state_dim)

    def _observation(self, time_step) -> dict[str, np.ndarray]:
        state = np.concatenate([np.asarray(v, np.float32).ravel() for v in time_step.observation.values()])
        return {"image": self.render(), "state": state}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        return self._observation(self._env.reset()), {"success": False}

    def step(self, action: np.ndarray):
        action = np.clip(np.asarray(action, np.float32), self._low, self._high)
        time_step = self._env.step(action)
        reward = float(time_step.reward or 0.0)
        return self._observation(time_step), reward, time_step.last(), False, {"success": False}

    def render(self) -> np.ndarray:
        return self._env.physics.render(self._size, self._size, camera_id=self._camera)

    def close(self) -> None:
        self._env.close()
