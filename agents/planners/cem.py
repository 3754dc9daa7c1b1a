"""Shooting by sampling: the cross-entropy method (PlaNet) and MPPI.

Both sample action sequences from a diagonal Gaussian, roll them through the model and refit
the Gaussian; CEM to the top ``elite_ratio`` samples, MPPI to all samples weighted by
softmax(gamma * return). Samples are clipped to [-1, 1]; the final mean is executed.
"""

from __future__ import annotations

import time

import tensorflow as tf

from agents.planners.base import CompiledPerModel, LatentModel, PlanResult, finite_actions, rollout_returns


class SamplingPlanner:
    def __init__(self, horizon: int, iterations: int, samples: int, elite_ratio: float = 0.01,
                 mppi_gamma: float | None = None, seed: int = 0):
        self.horizon, self.iterations, self.samples = horizon, iterations, samples
        self.elites = max(1, int(round(samples * elite_ratio)))
        self.mppi_gamma = mppi_gamma
        self._seed = seed
        self._optimise = CompiledPerModel(lambda model: lambda f, s: self._optimise_graph(model, f, s))

    def _optimise_graph(self, model: LatentModel, feature: tf.Tensor, seed: tf.Tensor):
        action_size = model.action_size
        mean = tf.zeros([self.horizon, action_size])
        std = tf.ones([self.horizon, action_size])
        start = tf.repeat(feature, self.samples, axis=0)
        best_returns = tf.TensorArray(tf.float32, self.iterations)
        for i in range(self.iterations):
            noise = tf.random.stateless_normal([self.samples, self.horizon, action_size], seed=seed + i)
            actions = tf.clip_by_value(mean + std * noise, -1.0, 1.0)
            returns = rollout_returns(model, start, actions)
            if self.mppi_gamma is None:
                top = tf.math.top_k(returns, self.elites)
                chosen = tf.gather(actions, top.indices)
                mean = tf.reduce_mean(chosen, 0)
                std = tf.sqrt(tf.math.reduce_variance(chosen, 0) + 1e-6)
            else:
                weights = tf.nn.softmax(self.mppi_gamma * returns)[:, None, None]
                mean = tf.reduce_sum(weights * actions, 0)
                std = tf.sqrt(tf.reduce_sum(weights * tf.square(actions - mean), 0) + 1e-6)
            best_returns = best_returns.write(i, tf.reduce_max(returns))
        return mean, tf.reduce_sum(rollout_returns(model, feature, mean[None])), best_returns.stack()

    def plan(self, model: LatentModel, feature: tf.Tensor) -> PlanResult:
        start = time.perf_counter()
        self._seed += 1
        mean, predicted, best = self._optimise(model, feature, tf.constant([self._seed, 0], tf.int32))
        actions, bad = finite_actions(mean.numpy(), float(predicted))
        return PlanResult(
            actions,
            {"predicted_return": float(predicted), "iterations": float(self.iterations),
             "nonfinite_actions": float(bad), "plan_seconds": time.perf_counter() - start},
            {"best_sample_return": best.numpy()},
        )
