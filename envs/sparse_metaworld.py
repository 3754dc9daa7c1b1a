"""Sparse MetaWorld on MetaWorld 3.x: one fixed task per run, 64x64 images, reward = success.

Reproduces the original fork's set-up (protocol.md 3.2, 3.5): MetaWorld's own goal
randomisation is frozen to one task drawn with the run's seed, and each reset applies the
original wrapper's per-task randomisation of the initial state (hand, object, drawer, ...).
Per-step success is MetaWorld 3.x's ``info['success']``; its thresholds are those of v3,
which differ slightly from the v2 fork's (protocol.md 3.5 lists the old ones).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from envs.rendering import create_renderer, make_renders_cheap
from envs.wrappers import image_observation_space

Randomizer = Callable[[Any, np.random.Generator], None]


@dataclass(frozen=True)
class CameraView:
    """A free MuJoCo camera; these values reproduce the original's mujoco-py views."""

    azimuth: float
    elevation: float
    distance: float
    lookat: tuple[float, float, float]


DEFAULT_VIEW = CameraView(25.0, -15.0, 2.6, (1.1, 1.1, -0.1))
HAMMER_VIEW = CameraView(40.0, -40.0, 0.8, (0.2, 0.65, -0.1))


def _jitter_hand(env: Any, rng: np.random.Generator, scale: float = 0.1) -> None:
    env.hand_init_pos = env._default_hand + rng.uniform(-scale, scale, 3) * np.array([1, 1, 0.5])


def _hand_anywhere(env: Any, rng: np.random.Generator) -> None:
    env.hand_init_pos = rng.uniform(env.mocap_low, env.mocap_high)


def _push_object(env: Any, rng: np.random.Generator) -> None:
    goal = np.asarray(env._task_rand_vec[3:6])
    while True:
        obj_xy = rng.uniform([-0.2, 0.6], [0.4, 0.9])
        if np.linalg.norm(obj_xy - goal[:2]) > 0.15:
            break
    env._last_rand_vec = np.concatenate([obj_xy, [0.02], goal])
    # The original starts the hand above the object; we keep it 5 cm higher than the
    # fork's z=0.05 so the reset does not drop the gripper onto the puck in MuJoCo 3.
    env.hand_init_pos = np.array([obj_xy[0], obj_xy[1], 0.1])


def _hammer_position(env: Any, rng: np.random.Generator) -> None:
    # The fork draws y from [0.3, 0.7]; in MetaWorld 3.x's scene a hammer nearer than 0.4
    # puts the hand outside the mocap range and one beyond 0.6 touches the nail box, so y
    # is kept to [0.4, 0.6] (x keeps the fork's [-0.1, 0.3]).
    hammer_xy = rng.uniform([-0.1, 0.4], [0.3, 0.6])
    env._last_rand_vec = np.array([hammer_xy[0], hammer_xy[1], 0.0])
    env.hand_init_pos = np.array([hammer_xy[0], hammer_xy[1], 0.0]) + np.array([0.0, -0.1, 0.16])


def _thermos_fixed(env: Any, rng: np.random.Generator) -> None:
    env._last_rand_vec = np.array([-0.1, 0.6, 0.0, 0.4, 0.6, 0.132])


# The original opens the window by U(0, 0.2) and the drawer by U(0, 0.15); MetaWorld 3.x
# counts a window within 0.05 and a drawer within 0.055 of closed as success, so the lower
# bounds are raised just past those thresholds: no episode starts already solved.
def _window_after_reset(env: Any, rng: np.random.Generator) -> None:
    env.data.joint("window_slide").qpos = rng.uniform(0.06, 0.2)


def _drawer_after_reset(env: Any, rng: np.random.Generator) -> None:
    env._set_obj_xyz(np.array(-rng.uniform(0.07, 0.15)))


@dataclass(frozen=True)
class TaskSetup:
    env_name: str
    view: CameraView
    before_reset: Randomizer
    after_reset: Randomizer | None = None


TASKS = {
    "reach-v3": TaskSetup("reach-v3", DEFAULT_VIEW, _hand_anywhere),
    "button-press-v3": TaskSetup("button-press-v3", DEFAULT_VIEW, _hand_anywhere),
    "window-close-v3": TaskSetup("window-close-v3", DEFAULT_VIEW, _jitter_hand, _window_after_reset),
    "drawer-close-v3": TaskSetup("drawer-close-v3", DEFAULT_VIEW, _jitter_hand, _drawer_after_reset),
    "push-v3": TaskSetup("push-v3", DEFAULT_VIEW, _push_object),
    "hammer-v3": TaskSetup("hammer-v3", HAMMER_VIEW, _hammer_position),
    "stick-push-v3": TaskSetup("stick-push-v3", DEFAULT_VIEW, _thermos_fixed),
}


class SparseMetaWorld(gym.Env):
    """A MetaWorld 3.x task with a fixed goal, image observations and the raw MW reward.

    The sparse reward is applied by :class:`envs.wrappers.SparseReward`, so the dense
    variant (the original's ``--dense_mw``) is the same class without that wrapper.
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, env_name: str, seed: int, image_size: int = 64):
        import metaworld
        import mujoco

        if env_name not in TASKS:
            raise ValueError(
                f"unknown Sparse MetaWorld env '{env_name}'; known: {', '.join(sorted(TASKS))}"
            )
        self._setup = TASKS[env_name]
        benchmark = metaworld.MT1(env_name, seed=seed)
        self._env = benchmark.train_classes[env_name]()
        task = benchmark.train_tasks[seed % len(benchmark.train_tasks)]
        self._env.set_task(task)
        self._env._task_rand_vec = np.array(self._env._last_rand_vec)
        self._env._default_hand = np.array(self._env.hand_init_pos, dtype=np.float64)
        # MetaWorld raises past max_path_length; the suite's TimeLimit ends episodes instead.
        self._env.max_path_length = 10**9
        make_renders_cheap(self._env.model)
        self._renderer = create_renderer(self._env.model, image_size)
        self._camera = mujoco.MjvCamera()
        self._camera.azimuth = self._setup.view.azimuth
        self._camera.elevation = self._setup.view.elevation
        self._camera.distance = self._setup.view.distance
        self._camera.lookat[:] = self._setup.view.lookat
        self._rng = np.random.default_rng(seed)
        state_dim = self._env.observation_space.shape[0]
        self.observation_space = image_observation_space(image_size, state_dim)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), dtype=np.float32)

    @property
    def unwrapped_metaworld(self) -> Any:
        """The MetaWorld env, for scripted policies and diagnostics."""
        return self._env

    def _observation(self, state: np.ndarray) -> dict[str, np.ndarray]:
        self._renderer.update_scene(self._env.data, camera=self._camera)
        image = self._renderer.render()
        return {"image": np.array(image, dtype=np.uint8), "state": state.astype(np.float32)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        import mujoco

        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._env._last_rand_vec = np.array(self._env._task_rand_vec)
        self._env.hand_init_pos = np.array(self._env._default_hand)
        self._setup.before_reset(self._env, self._rng)
        state, _ = self._env.reset()
        if self._setup.after_reset is not None:
            self._setup.after_reset(self._env, self._rng)
            mujoco.mj_forward(self._env.model, self._env.data)
            state = self._env._get_obs()
        return self._observation(state), {"success": False}

    def step(self, action: np.ndarray):
        action = np.clip(np.asarray(action, dtype=np.float32), -1.0, 1.0)
        state, reward, _, _, info = self._env.step(action)
        info = {"success": bool(info["success"])}
        # The dense reward is MetaWorld's own (0..10); the world model normalises what it learns.
        return self._observation(state), float(reward), False, False, info

    def render(self) -> np.ndarray:
        self._renderer.update_scene(self._env.data, camera=self._camera)
        return self._renderer.render()

    def close(self) -> None:
        self._renderer.close()
        self._env.close()
