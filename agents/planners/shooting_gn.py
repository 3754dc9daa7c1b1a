"""Shooting by Levenberg-Marquardt on the actions (agent ``shooting_gn``).

As in the original (docs/algorithm.md#shooting-gn), one residual per step,

    r_t = softplus(-reward_t) + sum_a sqrt(lam_{t,a}) max(|a_{t,a}| - 1, 0),

the step (J^T J + gn_damping I)^-1 J^T r scaled by ``gd_lr``; the actions are never clipped
while optimising (the bound acts only through the penalty), and lam += lam_lr * violation
every ``lm_update_every`` iterations. The Jacobian of the H residuals with respect to all
H x A actions is dense (every reward depends on every earlier action), so each step solves
an (H A) x (H A) system.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from agents.planners.base import (
    ActionShooting,
    LatentModel,
    ShootingSettings,
    bound_violation,
    dual_step_due,
    rollout,
)


@dataclass(frozen=True)
class ShootingGNSettings(ShootingSettings):
    gn_damping: float  # gd_lr scales the Levenberg-Marquardt step, as the original names it


class GaussNewtonShooting(ActionShooting):
    Settings = ShootingGNSettings

    def residuals(self, model: LatentModel, feature: tf.Tensor, flat: tf.Tensor,
                  lam: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(residuals [H], rewards [H], violation max(|a| - 1, 0) [H, A]) of flat actions [H A]."""
        shape = [self.s.planning_horizon, model.action_size]
        rewards = rollout(model, feature, tf.reshape(flat, [1, *shape]))[1][0]
        violation = bound_violation(tf.reshape(flat, shape))
        return tf.nn.softplus(-rewards) + tf.reduce_sum(tf.sqrt(lam) * violation, -1), rewards, violation

    def _build(self, model: LatentModel):
        s = self.s
        shape = [s.planning_horizon, model.action_size]
        size = shape[0] * shape[1]

        def optimise(feature, actions):
            flat = tf.reshape(actions, [size])
            lam = tf.ones(shape)
            eye = tf.eye(size, dtype=tf.float64)
            curve = tf.TensorArray(tf.float32, s.optimization_steps)
            for i in tf.range(s.optimization_steps):
                with tf.GradientTape() as tape:
                    tape.watch(flat)
                    residual, rewards, violation = self.residuals(model, feature, flat, lam)
                jac = tf.cast(tape.jacobian(residual, flat), tf.float64)  # [H, H A]
                lhs = tf.matmul(jac, jac, transpose_a=True) + s.gn_damping * eye
                rhs = tf.linalg.matvec(jac, tf.cast(residual, tf.float64), transpose_a=True)
                # A model that broke down (NaN Jacobian) must not crash the solver: the plan turns
                # NaN instead, and plan_result replaces it by zeros like any non-finite plan.
                finite = tf.reduce_all(tf.math.is_finite(lhs)) & tf.reduce_all(tf.math.is_finite(rhs))
                delta = tf.linalg.solve(tf.where(finite, lhs, eye), tf.where(finite, rhs, 0.0)[:, None])[:, 0]
                delta = tf.cast(tf.where(finite, delta, float("nan")), tf.float32)
                flat = flat - s.gd_lr * delta
                if dual_step_due(i, s.lm_update_every):
                    lam = lam + s.lam_lr * violation
                curve = curve.write(i, tf.reduce_sum(rewards))
            return tf.reshape(flat, [1, *shape]), curve.stack()

        return optimise


PLANNER = GaussNewtonShooting
