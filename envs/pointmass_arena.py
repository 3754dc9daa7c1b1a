"""The pointmass arena of the original's lottery (``pointmass_prob.xml``, docs/protocol.md#pointmass-lottery).

Shared by the lottery and ``pm_reach``, which differ only in their goal regions and payoffs.
The physics is the original's: a sphere on two slide joints in [-1, 1] (damping 10,
armature 0.004), zero gravity, a 0.01 s Euler step, 5 MuJoCo steps per environment step,
and **position actuators** (kp 100, ctrl in [-1, 1]): an action is the target position the
mass is pulled towards, not a force. Goals are sites drawn neutral grey until the task
paints them. The camera looks straight down on the whole arena.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from envs.rendering import create_renderer, make_renders_cheap
from envs.wrappers import image_observation_space

FRAME_SKIP = 5
START_LOW, START_HIGH = (-0.6, -0.1), (-0.4, 0.1)
NEUTRAL = (0.1, 0.1, 0.1, 0.5)
GREEN = (0.0, 1.0, 0.0, 0.5)
RED = (1.0, 0.0, 0.0, 0.5)


@dataclass(frozen=True)
class Goal:
    """A disc the mass is "in" when its centre is closer than ``radius`` to ``position``."""

    name: str
    position: tuple[float, float]
    radius: float

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Whether each point ([..., 2]) is in the disc: the env's hit test and the reward map's
        per-goal means share it."""
        return np.linalg.norm(np.asarray(points) - np.asarray(self.position), axis=-1) < self.radius


def arena_xml(goals: tuple[Goal, ...]) -> str:
    """The original's model, with one grey sphere site per goal.

    The floor is a finite plane just larger than the camera's view, with a coarse rendering
    grid: the original's infinite plane with a 0.01 grid looks the same but makes a 64x64
    render about 7x slower in MuJoCo 3.
    """
    sites = "\n".join(
        f'    <site name="{g.name}" type="sphere" size="{g.radius}" pos="{g.position[0]} {g.position[1]} 0"'
        f' rgba="{" ".join(map(str, NEUTRAL))}"/>'
        for g in goals
    )
    return f"""
<mujoco model="pointmass">
  <compiler inertiafromgeom="true" angle="radian"/>
  <option timestep="0.01" gravity="0 0 0" iterations="100" integrator="Euler"/>
  <default>
    <joint armature="0.004" damping="10" limited="true"/>
    <geom friction=".5 .1 .1" margin="0.002" condim="1" contype="1" conaffinity="1"/>
  </default>
  <visual>
    <headlight ambient="0.4 0.4 0.4"/>
    <quality offsamples="0"/>
  </visual>
  <worldbody>
    <camera name="top" pos="0 0 2.6" xyaxes="1 0 0 0 1 0"/>
    <body name="robot" pos="0 0 0">
      <geom name="robot_geom" type="sphere" rgba="0.6 0.6 0.6 1" size="0.05"/>
      <site name="site_pm" type="sphere" rgba="0 0 1 1" size="0.1"/>
      <joint name="robot_joint_x" type="slide" axis="1 0 0" range="-1 1"/>
      <joint name="robot_joint_y" type="slide" axis="0 1 0" range="-1 1"/>
    </body>
    <geom type="plane" rgba="1 1 1 1" pos="0 0 -0.25" size="1.5 1.5 0.5"/>
{sites}
  </worldbody>
  <actuator>
    <position name="actuator_x" joint="robot_joint_x" ctrlrange="-1 1" kp="100"/>
    <position name="actuator_y" joint="robot_joint_y" ctrlrange="-1 1" kp="100"/>
  </actuator>
</mujoco>
"""


class PointmassArena(gym.Env):
    """Physics, start state and 64x64 top-down images; subclasses define :meth:`step`'s reward.

    A reset draws the start position (by default the original's x ~ U(-0.6, -0.4),
    y ~ U(-0.1, 0.1)) at rest and then, as the original's reset does, takes one environment
    step with action (0, 0), so the first observation already moves towards the centre.
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        goals: tuple[Goal, ...],
        seed: int,
        image_size: int = 64,
        start: tuple[tuple[float, float], tuple[float, float]] = (START_LOW, START_HIGH),
    ):
        import mujoco

        self._mujoco = mujoco
        self.goals = goals
        self.model = mujoco.MjModel.from_xml_string(arena_xml(goals))
        make_renders_cheap(self.model)
        self.data = mujoco.MjData(self.model)
        self._renderer = create_renderer(self.model, image_size)
        self._rng = np.random.default_rng(seed)
        self._start = start
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self.observation_space = image_observation_space(image_size, 4)

    @property
    def position(self) -> np.ndarray:
        return np.array(self.data.qpos[:2])

    def inside(self, goal: Goal) -> bool:
        return bool(goal.contains(self.position))

    def paint(self, goal: Goal, rgba: tuple[float, float, float, float]) -> None:
        self.model.site(goal.name).rgba = rgba

    def simulate(self, action: np.ndarray) -> None:
        """One environment step: hold the target position ``action`` for FRAME_SKIP MuJoCo steps."""
        self.data.ctrl[:] = np.clip(action, -1.0, 1.0)
        self._mujoco.mj_step(self.model, self.data, nstep=FRAME_SKIP)

    def observation(self) -> dict[str, np.ndarray]:
        state = np.concatenate([self.data.qpos, self.data.qvel]).astype(np.float32)
        return {"image": np.array(self.render(), np.uint8), "state": state}

    def reset_arena(self, seed: int | None) -> None:
        """Start state of a new episode, goals grey again; subclasses add their own bookkeeping."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:] = self._rng.uniform(*self._start)
        for goal in self.goals:
            self.paint(goal, NEUTRAL)
        self.simulate(np.zeros(2))

    def render(self) -> np.ndarray:
        self._renderer.update_scene(self.data, camera="top")
        return self._renderer.render()

    def close(self) -> None:
        self._renderer.close()
