"""``pm_reach``: one goal region in the lottery's arena, a cheap sparse-reward task (issue 12).

The arena, actuators, start distribution and camera are the lottery's (envs/pointmass_arena.py).
The reward is 1 at every step that ends with the mass inside the goal disc and 0 elsewhere,
and ``info['success']`` says the same; the episode does not end on arrival, so an agent that
reaches the goal keeps being paid for staying (as Sparse MetaWorld pays every successful
step), and episode success is "inside at some step". The goal is drawn grey, green while the
mass is inside. Goal position and radius were chosen by measurement (bench/random_success.py)
so that uniformly random actions succeed in roughly one episode in ten of the task's length:
rewards are rare in the random prefill but present.
"""

from __future__ import annotations

import numpy as np

from envs.pointmass_arena import GREEN, NEUTRAL, Goal, PointmassArena

GOAL = Goal("goal", (0.6, 0.6), 0.2)


class PointmassReach(PointmassArena):
    def __init__(self, seed: int, image_size: int = 64):
        super().__init__((GOAL,), seed, image_size)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.reset_arena(seed)
        return self.observation(), {"success": False}

    def step(self, action: np.ndarray):
        self.simulate(action)
        inside = self.inside(GOAL)
        self.paint(GOAL, GREEN if inside else NEUTRAL)
        return self.observation(), float(inside), False, False, {"success": inside}
