"""The pointmass "lottery" (protocol.md 3.10), built directly in MuJoCo.

A point mass on a plane chooses between two goals. The bottom ("risky") goal pays +2 with
probability 0.8 and -10 otherwise (expected value -0.4); the top ("safe") goal pays +1.
Only the first goal reached pays, once. A risk-aware planner should pick the safe goal.
The original's goal positions are not recorded; here both goals are equally far from the
start, so the choice is made by the payoffs alone.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from envs.rendering import create_renderer, make_renders_cheap
from envs.wrappers import image_observation_space

GOAL_RADIUS = 0.25
RISKY_GOAL = np.array([0.4, -0.5])   # "bottom", target1
SAFE_GOAL = np.array([0.4, 0.5])     # "top", target2
RISKY_WIN, RISKY_LOSS, RISKY_LOSS_PROB, SAFE_PAYOFF = 2.0, -10.0, 0.2, 1.0
FRAME_SKIP = 5

_XML = f"""
<mujoco model="pointmass_lottery">
  <option timestep="0.02"/>
  <visual><quality offsamples="0"/></visual>
  <worldbody>
    <light pos="0 0 3" dir="0 0 -1" castshadow="false"/>
    <geom name="floor" type="plane" size="1.2 1.2 0.1" rgba="0.85 0.85 0.85 1"/>
    <site name="risky" type="cylinder" size="{GOAL_RADIUS} 0.001" pos="{RISKY_GOAL[0]} {RISKY_GOAL[1]} 0.001" rgba="0.9 0.2 0.2 1"/>
    <site name="safe" type="cylinder" size="{GOAL_RADIUS} 0.001" pos="{SAFE_GOAL[0]} {SAFE_GOAL[1]} 0.001" rgba="0.2 0.7 0.2 1"/>
    <body name="mass" pos="0 0 0.08">
      <joint name="x" type="slide" axis="1 0 0" damping="2" limited="true" range="-1.1 1.1"/>
      <joint name="y" type="slide" axis="0 1 0" damping="2" limited="true" range="-1.1 1.1"/>
      <geom type="sphere" size="0.08" rgba="0.1 0.2 0.9 1" mass="0.3" contype="0" conaffinity="0"/>
    </body>
    <camera name="top" pos="0 0 2.6" xyaxes="1 0 0 0 1 0"/>
  </worldbody>
  <actuator>
    <motor joint="x" gear="1.5" ctrllimited="true" ctrlrange="-1 1"/>
    <motor joint="y" gear="1.5" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""


class PointmassLottery(gym.Env):
    """Observations are top-down 64x64 images; ``info['choice']`` is risky, safe or none."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, seed: int, image_size: int = 64):
        import mujoco

        self._mujoco = mujoco
        self.model = mujoco.MjModel.from_xml_string(_XML)
        make_renders_cheap(self.model)
        self.data = mujoco.MjData(self.model)
        self._renderer = create_renderer(self.model, image_size)
        self._rng = np.random.default_rng(seed)
        self.choice = "none"
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self.observation_space = image_observation_space(image_size, 4)

    def _observation(self) -> dict[str, np.ndarray]:
        self._renderer.update_scene(self.data, camera="top")
        state = np.concatenate([self.data.qpos, self.data.qvel]).astype(np.float32)
        return {"image": np.array(self._renderer.render(), np.uint8), "state": state}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = [self._rng.uniform(-0.6, -0.4), self._rng.uniform(-0.1, 0.1)]
        self._mujoco.mj_forward(self.model, self.data)
        self.choice = "none"
        return self._observation(), {"success": False, "choice": self.choice}

    def _payoff(self, position: np.ndarray) -> float:
        """Reward of this step: pays once, for the first goal the mass enters."""
        if self.choice != "none":
            return 0.0
        if np.linalg.norm(position - RISKY_GOAL) <= GOAL_RADIUS:
            self.choice = "risky"
            return RISKY_LOSS if self._rng.random() < RISKY_LOSS_PROB else RISKY_WIN
        if np.linalg.norm(position - SAFE_GOAL) <= GOAL_RADIUS:
            self.choice = "safe"
            return SAFE_PAYOFF
        return 0.0

    def step(self, action: np.ndarray):
        self.data.ctrl[:] = np.clip(action, -1.0, 1.0)
        self._mujoco.mj_step(self.model, self.data, nstep=FRAME_SKIP)
        reward = self._payoff(np.array(self.data.qpos[:2]))
        info = {"success": reward > 0, "choice": self.choice}
        return self._observation(), reward, False, False, info

    def render(self) -> np.ndarray:
        self._renderer.update_scene(self.data, camera="top")
        return self._renderer.render()

    def close(self) -> None:
        self._renderer.close()
