"""MPPI (agent ``mppi``): the cross-entropy method's sampling with a softmax-weighted refit.

Every sample counts, weighted by softmax(mppi_gamma * return), instead of CEM's top fraction.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from agents.planners.base import PlannerSettings
from agents.planners.cem import CEM


@dataclass(frozen=True)
class MPPISettings(PlannerSettings):
    planning_horizon: int
    optimization_steps: int
    cem_samples: int
    mppi_gamma: float


class MPPI(CEM):
    Settings = MPPISettings

    def refit(self, actions: tf.Tensor, returns: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Softmax(gamma * return)-weighted mean and std [H, A] of actions [N, H, A]."""
        weights = tf.nn.softmax(self.s.mppi_gamma * returns)[:, None, None]
        mean = tf.reduce_sum(weights * actions, 0)
        return mean, tf.sqrt(tf.reduce_sum(weights * tf.square(actions - mean), 0) + 1e-6)


PLANNER = MPPI
