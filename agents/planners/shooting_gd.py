"""Shooting by gradients: Adam on the actions through the unrolled model (agent ``shooting_gd``).

It optimises only the actions and rolls the model forward through the whole horizon, so
gradients pass through H model steps (backpropagation through time): the difficulty LatCo
avoids. As in the original (docs/algorithm.md#shooting-gd): Adam (lr ``gd_lr``) on

    -sum(reward) + act_loss_scale * sum(lam * max(a^2 - 1, 0)),

the actions clipped to [-1, 1] after each step, and lam += lam_lr * violation every
``lm_update_every`` iterations. The violation that moves lam is that of the plan before the
step; since every step ends in the box, only the N(0, 1) start can violate it.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from agents.planners.base import (
    ActionShooting,
    LatentModel,
    ShootingSettings,
    adam_update,
    dual_step_due,
    rollout_returns,
    square_bound_violation,
)


@dataclass(frozen=True)
class ShootingGDSettings(ShootingSettings):
    act_loss_scale: float


class GradientShooting(ActionShooting):
    Settings = ShootingGDSettings

    def objective(self, model: LatentModel, feature: tf.Tensor, actions: tf.Tensor,
                  lam: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(loss, predicted return, violation max(a^2 - 1, 0)) of actions [1, H, A]."""
        predicted = tf.reduce_sum(rollout_returns(model, feature, actions))
        violation = square_bound_violation(actions)
        return -predicted + self.s.act_loss_scale * tf.reduce_sum(lam * violation), predicted, violation

    def _build(self, model: LatentModel):
        s = self.s

        def optimise(feature, actions):
            lam = tf.ones_like(actions)
            m, v = tf.zeros_like(actions), tf.zeros_like(actions)
            curve = tf.TensorArray(tf.float32, s.optimization_steps)
            for i in tf.range(s.optimization_steps):
                with tf.GradientTape() as tape:
                    tape.watch(actions)
                    loss, predicted, violation = self.objective(model, feature, actions, lam)
                grad = tape.gradient(loss, actions)
                update, m, v = adam_update(grad, m, v, tf.cast(i + 1, tf.float32), s.gd_lr)
                actions = tf.clip_by_value(actions - update, -1.0, 1.0)
                if dual_step_due(i, s.lm_update_every):
                    lam = lam + s.lam_lr * violation
                curve = curve.write(i, predicted)
            return actions, curve.stack()

        return optimise


PLANNER = GradientShooting
