"""Shooting by gradients: Adam on the actions (shooting_gd) and Levenberg-Marquardt (shooting_gn).

Both optimise only the actions and roll the model forward through the whole horizon, so
gradients pass through H model steps (backpropagation through time): the difficulty LatCo
avoids. Action bounds are a penalty whose weight grows with the violation (docs/algorithm.md#shooting-baselines).
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from agents.planners.base import (
    CompiledPerModel,
    LatentModel,
    PlanResult,
    finite_actions,
    rollout,
    rollout_returns,
)


def bound_violation(actions: tf.Tensor) -> tf.Tensor:
    """max(|a| - 1, 0) elementwise: zero inside the action box."""
    return tf.nn.relu(tf.abs(actions) - 1.0)


def square_bound_violation(actions: tf.Tensor) -> tf.Tensor:
    """max(a^2 - 1, 0) elementwise: the original's penalty for its gradient-based planners."""
    return tf.nn.relu(tf.square(actions) - 1.0)


def adam_update(grad, m, v, step, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step, written out: Keras optimisers cannot be created inside graph loops."""
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * tf.square(grad)
    update = learning_rate * (m / (1 - beta1**step)) / (tf.sqrt(v / (1 - beta2**step)) + eps)
    return update, m, v


class _ActionShooting:
    """Shared plumbing: actions start from N(0, 1) as in the original, final rollout, diagnostics."""

    def __init__(self, horizon: int, iterations: int, seed: int):
        self.horizon, self.iterations = horizon, iterations
        self._rng = np.random.default_rng(seed)
        self._optimise = CompiledPerModel(self._build)

    def _build(self, model: LatentModel):
        raise NotImplementedError

    def plan(self, model: LatentModel, feature: tf.Tensor) -> PlanResult:
        start = time.perf_counter()
        init = self._rng.normal(0.0, 1.0, [1, self.horizon, model.action_size]).astype(np.float32)
        actions, curve = self._optimise(model, feature, tf.constant(init))
        actions, bad = finite_actions(actions.numpy()[0])
        predicted = rollout_returns(model, feature, tf.constant(np.clip(actions, -1.0, 1.0)[None]))
        return PlanResult(actions, {
            "predicted_return": float(predicted[0]), "iterations": float(self.iterations),
            "nonfinite_actions": float(bad), "plan_seconds": time.perf_counter() - start,
        }, {"predicted_return": curve.numpy()})


def dual_step_due(iteration: tf.Tensor, every: int) -> tf.Tensor | bool:
    """Whether the multipliers move after this iteration: every ``every`` (never if <= 0)."""
    return every > 0 and iteration % every == every - 1


class GradientShooting(_ActionShooting):
    """Adam on -sum(reward) + act_scale * sum(lam * max(a^2 - 1, 0)), clipped to the box after
    each step; lam += lam_lr * violation every ``lm_update_every`` iterations (docs/algorithm.md#shooting-gd).

    The violation that moves lam is that of the plan before the step; since every step ends
    in the box, only the N(0, 1) start can violate it, as in the original.
    """

    def __init__(self, horizon: int, iterations: int, learning_rate: float, lam_lr: float = 1.0,
                 lm_update_every: int = 1, act_scale: float = 1.0, seed: int = 0):
        self.learning_rate, self.lam_lr = learning_rate, lam_lr
        self.lm_update_every, self.act_scale = lm_update_every, act_scale
        super().__init__(horizon, iterations, seed)

    def objective(self, model: LatentModel, feature: tf.Tensor, actions: tf.Tensor,
                  lam: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(loss, predicted return, violation max(a^2 - 1, 0)) of actions [1, H, A]."""
        predicted = tf.reduce_sum(rollout_returns(model, feature, actions))
        violation = square_bound_violation(actions)
        return -predicted + self.act_scale * tf.reduce_sum(lam * violation), predicted, violation

    def _build(self, model: LatentModel):
        def optimise(feature, actions):
            lam = tf.ones_like(actions)
            m, v = tf.zeros_like(actions), tf.zeros_like(actions)
            curve = tf.TensorArray(tf.float32, self.iterations)
            for i in tf.range(self.iterations):
                with tf.GradientTape() as tape:
                    tape.watch(actions)
                    loss, predicted, violation = self.objective(model, feature, actions, lam)
                grad = tape.gradient(loss, actions)
                update, m, v = adam_update(grad, m, v, tf.cast(i + 1, tf.float32), self.learning_rate)
                actions = tf.clip_by_value(actions - update, -1.0, 1.0)
                if dual_step_due(i, self.lm_update_every):
                    lam = lam + self.lam_lr * violation
                curve = curve.write(i, predicted)
            return actions, curve.stack()

        return optimise


class GaussNewtonShooting(_ActionShooting):
    """Levenberg-Marquardt on the actions, one residual per step (docs/algorithm.md#shooting-gn):

        r_t = softplus(-reward_t) + sum_a sqrt(lam_{t,a}) max(|a_{t,a}| - 1, 0),

    step (J^T J + damping I)^-1 J^T r scaled by ``step_size``; the actions are never clipped
    while optimising (the bound acts only through the penalty), and lam += lam_lr * violation
    every ``lm_update_every`` iterations. The Jacobian of the H residuals with respect to all
    H x A actions is dense (every reward depends on every earlier action), so each step
    solves an (H A) x (H A) system.
    """

    def __init__(self, horizon: int, iterations: int, damping: float, step_size: float, lam_lr: float = 1.0,
                 lm_update_every: int = 1, seed: int = 0):
        self.damping, self.step_size = damping, step_size
        self.lam_lr, self.lm_update_every = lam_lr, lm_update_every
        super().__init__(horizon, iterations, seed)

    def residuals(self, model: LatentModel, feature: tf.Tensor, flat: tf.Tensor,
                  lam: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(residuals [H], rewards [H], violation max(|a| - 1, 0) [H, A]) of flat actions [H A]."""
        shape = [self.horizon, model.action_size]
        rewards = rollout(model, feature, tf.reshape(flat, [1, *shape]))[1][0]
        violation = bound_violation(tf.reshape(flat, shape))
        return tf.nn.softplus(-rewards) + tf.reduce_sum(tf.sqrt(lam) * violation, -1), rewards, violation

    def _build(self, model: LatentModel):
        size = self.horizon * model.action_size
        shape = [self.horizon, model.action_size]

        def optimise(feature, actions):
            flat = tf.reshape(actions, [size])
            lam = tf.ones(shape)
            eye = tf.eye(size, dtype=tf.float64)
            curve = tf.TensorArray(tf.float32, self.iterations)
            for i in tf.range(self.iterations):
                with tf.GradientTape() as tape:
                    tape.watch(flat)
                    residual, rewards, violation = self.residuals(model, feature, flat, lam)
                jac = tf.cast(tape.jacobian(residual, flat), tf.float64)  # [H, H A]
                lhs = tf.matmul(jac, jac, transpose_a=True) + self.damping * eye
                rhs = tf.linalg.matvec(jac, tf.cast(residual, tf.float64), transpose_a=True)
                delta = tf.cast(tf.linalg.solve(lhs, rhs[:, None])[:, 0], tf.float32)
                flat = flat - self.step_size * delta
                if dual_step_due(i, self.lm_update_every):
                    lam = lam + self.lam_lr * violation
                curve = curve.write(i, tf.reduce_sum(rewards))
            return tf.reshape(flat, [1, *shape]), curve.stack()

        return optimise
