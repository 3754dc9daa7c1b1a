"""Shooting by sampling: the cross-entropy method of PlaNet (agent ``cem``, method ``planet``).

Samples action sequences from a diagonal Gaussian, rolls them through the model and refits
the Gaussian to the top ``cem_elite_ratio`` samples; MPPI (agents/planners/mppi.py) refits to
all samples weighted by softmax(gamma * return) instead. Samples are clipped to [-1, 1];
the final mean is executed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import tensorflow as tf

from agents.planners.base import (
    CompiledPerModel,
    LatentModel,
    PlannerSettings,
    PlanResult,
    plan_result,
    rollout_returns,
)


@dataclass(frozen=True)
class CEMSettings(PlannerSettings):
    planning_horizon: int
    optimization_steps: int
    cem_samples: int
    cem_elite_ratio: float


class CEM:
    Settings: type[PlannerSettings] = CEMSettings

    def __init__(self, settings: PlannerSettings, seed: int = 0):
        self.s = settings
        self._seed = seed
        self._optimise = CompiledPerModel(lambda model: lambda f, s: self._optimise_graph(model, f, s))

    def refit(self, actions: tf.Tensor, returns: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Mean and std [H, A] of the top samples of actions [N, H, A] by returns [N]."""
        elites = max(1, int(round(self.s.cem_samples * self.s.cem_elite_ratio)))
        chosen = tf.gather(actions, tf.math.top_k(returns, elites).indices)
        return tf.reduce_mean(chosen, 0), tf.sqrt(tf.math.reduce_variance(chosen, 0) + 1e-6)

    def _optimise_graph(self, model: LatentModel, feature: tf.Tensor, seed: tf.Tensor):
        """The whole optimisation as one graph; its iterations are a graph loop.

        A Python loop here would unroll ``optimization_steps`` x ``planning_horizon`` model
        steps into the graph: 30 x 15 at `mini` took 32 s to trace on pm_reach and 72 s on
        mw_reach (issue 22). As a ``tf.range`` loop only one iteration is traced; its
        samples are those of the unrolled loop (the same stateless seed per iteration).
        """
        s = self.s
        shape = [s.planning_horizon, model.action_size]
        mean, std = tf.zeros(shape), tf.ones(shape)
        start = tf.repeat(feature, s.cem_samples, axis=0)
        best_returns = tf.TensorArray(tf.float32, s.optimization_steps)
        for i in tf.range(s.optimization_steps):
            noise = tf.random.stateless_normal([s.cem_samples, *shape], seed=seed + i)
            actions = tf.clip_by_value(mean + std * noise, -1.0, 1.0)
            returns = rollout_returns(model, start, actions)
            mean, std = self.refit(actions, returns)
            best_returns = best_returns.write(i, tf.reduce_max(returns))
        return mean, tf.reduce_sum(rollout_returns(model, feature, mean[None])), best_returns.stack()

    def plan(self, model: LatentModel, feature: tf.Tensor) -> PlanResult:
        started = time.perf_counter()
        self._seed += 1
        mean, predicted, best = self._optimise(model, feature, tf.constant([self._seed, 0], tf.int32))
        return plan_result(mean.numpy(), float(predicted), self.s.optimization_steps, started,
                           curves={"best_sample_return": best.numpy()})


PLANNER = CEM
