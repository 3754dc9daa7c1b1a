"""Shooting by gradients: Adam on the actions (shooting_gd) and Levenberg-Marquardt (shooting_gn).

Both optimise only the actions and roll the model forward through the whole horizon, so
gradients pass through H model steps (backpropagation through time): the difficulty LatCo
avoids. Action bounds are a penalty whose weight grows with the violation (protocol.md 4.3).
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


def adam_update(grad, m, v, step, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step, written out: Keras optimisers cannot be created inside graph loops."""
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * tf.square(grad)
    update = learning_rate * (m / (1 - beta1**step)) / (tf.sqrt(v / (1 - beta2**step)) + eps)
    return update, m, v


class _ActionShooting:
    """Shared plumbing: random small initial actions, final rollout, diagnostics."""

    def __init__(self, horizon: int, iterations: int, seed: int):
        self.horizon, self.iterations = horizon, iterations
        self._rng = np.random.default_rng(seed)
        self._optimise = CompiledPerModel(self._build)

    def _build(self, model: LatentModel):
        raise NotImplementedError

    def plan(self, model: LatentModel, feature: tf.Tensor) -> PlanResult:
        start = time.perf_counter()
        init = self._rng.normal(0.0, 0.1, [1, self.horizon, model.action_size]).astype(np.float32)
        actions, curve = self._optimise(model, feature, tf.constant(init))
        actions, bad = finite_actions(actions.numpy()[0])
        predicted = rollout_returns(model, feature, tf.constant(actions[None]))
        return PlanResult(actions, {
            "predicted_return": float(predicted[0]), "iterations": float(self.iterations),
            "nonfinite_actions": float(bad), "plan_seconds": time.perf_counter() - start,
        }, {"predicted_return": curve.numpy()})


class GradientShooting(_ActionShooting):
    """Adam on -sum(reward) + lambda * sum(max(|a| - 1, 0)^2); lambda += lam_lr * violation."""

    def __init__(self, horizon: int, iterations: int, learning_rate: float, lam_lr: float = 1.0, seed: int = 0):
        self.learning_rate, self.lam_lr = learning_rate, lam_lr
        super().__init__(horizon, iterations, seed)

    def _build(self, model: LatentModel):
        def optimise(feature, actions):
            lam = tf.ones_like(actions)
            m, v = tf.zeros_like(actions), tf.zeros_like(actions)
            curve = tf.TensorArray(tf.float32, self.iterations)
            for i in tf.range(self.iterations):
                with tf.GradientTape() as tape:
                    tape.watch(actions)
                    predicted = tf.reduce_sum(rollout_returns(model, feature, actions))
                    violation = tf.square(bound_violation(actions))
                    loss = -predicted + tf.reduce_sum(lam * violation)
                grad = tape.gradient(loss, actions)
                update, m, v = adam_update(grad, m, v, tf.cast(i + 1, tf.float32), self.learning_rate)
                actions = tf.clip_by_value(actions - update, -1.0, 1.0)
                lam = lam + self.lam_lr * violation
                curve = curve.write(i, predicted)
            return actions, curve.stack()

        return optimise


class GaussNewtonShooting(_ActionShooting):
    """Levenberg-Marquardt on the actions: residuals softplus(-r_t) and sqrt(lambda) * bound.

    The Jacobian of all residuals with respect to all H x A actions is dense (every reward
    depends on every earlier action), so each step solves an (H A) x (H A) system.
    """

    def __init__(self, horizon: int, iterations: int, damping: float, step_size: float, seed: int = 0):
        self.damping, self.step_size = damping, step_size
        super().__init__(horizon, iterations, seed)

    def _build(self, model: LatentModel):
        size = self.horizon * model.action_size

        def optimise(feature, actions):
            flat = tf.reshape(actions, [size])
            lam = tf.ones_like(flat)
            eye = tf.eye(size, dtype=tf.float64)
            curve = tf.TensorArray(tf.float32, self.iterations)
            for i in tf.range(self.iterations):
                with tf.GradientTape() as tape:
                    tape.watch(flat)
                    _, rewards = rollout(model, feature, tf.reshape(flat, [1, self.horizon, model.action_size]))
                    residual = tf.concat([tf.nn.softplus(-rewards[0]), tf.sqrt(lam) * bound_violation(flat)], 0)
                jac = tf.cast(tape.jacobian(residual, flat), tf.float64)
                lhs = tf.matmul(jac, jac, transpose_a=True) + self.damping * eye
                rhs = tf.linalg.matvec(jac, tf.cast(residual, tf.float64), transpose_a=True)
                delta = tf.cast(tf.linalg.solve(lhs, rhs[:, None])[:, 0], tf.float32)
                flat = tf.clip_by_value(flat - self.step_size * delta, -1.0, 1.0)
                lam = lam + bound_violation(flat)
                curve = curve.write(i, tf.reduce_sum(rewards))
            return tf.reshape(flat, [1, self.horizon, model.action_size]), curve.stack()

        return optimise
