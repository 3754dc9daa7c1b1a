"""The pointmass "lottery" (docs/protocol.md#pointmass-lottery) in the original's arena.

Two goals of radius 0.25 at the original's positions: the risky goal (``target1``, the
code's "bottom") at (-0.8, 0.7) pays +2 with probability 0.8 and -10 otherwise (expected
value -0.4); the safe goal (``target2``, "top") at (0.8, 0.7) pays +1. From the start
region around (-0.5, 0) the risky goal is about twice as close (0.76 vs 1.48), so a planner
that only looks at the mean pays to take the risk; a risk-aware one should travel further
to the safe goal. A goal is hit when the mass's centre is within 0.25 of it at the end of an
environment step; only the first goal hit pays, once, and episodes never end early. Goals
are grey until hit, then green (red for a -10 draw), as in the original.
"""

from __future__ import annotations

import numpy as np

from envs.pointmass_arena import GREEN, RED, Goal, PointmassArena

GOAL_RADIUS = 0.25
RISKY_GOAL = np.array([-0.8, 0.7])  # "bottom", target1
SAFE_GOAL = np.array([0.8, 0.7])    # "top", target2
RISKY_WIN, RISKY_LOSS, RISKY_LOSS_PROB, SAFE_PAYOFF = 2.0, -10.0, 0.2, 1.0
RISKY = Goal("target1", (float(RISKY_GOAL[0]), float(RISKY_GOAL[1])), GOAL_RADIUS)
SAFE = Goal("target2", (float(SAFE_GOAL[0]), float(SAFE_GOAL[1])), GOAL_RADIUS)


class PointmassLottery(PointmassArena):
    """Observations are top-down 64x64 images; ``info['choice']`` is risky, safe or none."""

    def __init__(self, seed: int, image_size: int = 64):
        self.choice = "none"
        super().__init__((RISKY, SAFE), seed, image_size)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.choice = "none"
        self.reset_arena(seed)
        return self.observation(), {"success": False, "choice": self.choice}

    def _payoff(self) -> float:
        """Reward of this step: pays once, for the first goal the mass is in (risky checked first)."""
        if self.choice != "none":
            return 0.0
        if self.inside(RISKY):
            self.choice = "risky"
            lost = self._rng.random() < RISKY_LOSS_PROB
            self.paint(RISKY, RED if lost else GREEN)
            return RISKY_LOSS if lost else RISKY_WIN
        if self.inside(SAFE):
            self.choice = "safe"
            self.paint(SAFE, GREEN)
            return SAFE_PAYOFF
        return 0.0

    def step(self, action: np.ndarray):
        self.simulate(action)
        reward = self._payoff()
        info = {"success": reward > 0, "choice": self.choice}
        return self.observation(), reward, False, False, info
