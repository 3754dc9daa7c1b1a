"""The interface shared by planners and the helpers they all use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import tensorflow as tf


class LatentModel(Protocol):
    """What a planner may ask of a model (docs/algorithm.md#the-latent-model-protocol).

    ``step(feature [B, F], action [B, A]) -> mean next feature [B, F]`` and
    ``reward(feature [..., F]) -> [...]`` must be differentiable TensorFlow functions.
    """

    feature_size: int
    action_size: int

    def step(self, feature: tf.Tensor, action: tf.Tensor) -> tf.Tensor: ...

    def reward(self, feature: tf.Tensor) -> tf.Tensor: ...


@dataclass
class PlanResult:
    """A plan's actions [H, A], scalar diagnostics, and per-iteration curves.

    The actions are finite but not clipped: a collocation or Gauss-Newton plan may end slightly
    outside [-1, 1], and the agent adds exploration noise before clipping (as the original
    does). Diagnostics such as ``predicted_return`` are of the clipped actions.
    """

    actions: np.ndarray
    diagnostics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    features: np.ndarray | None = None  # planned latent trajectory [H + 1, F], if any


class Planner(Protocol):
    def plan(self, model: LatentModel, feature: tf.Tensor) -> PlanResult: ...


def rollout(model: LatentModel, feature: tf.Tensor, actions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Unroll ``actions`` [B, H, A] from ``feature`` [B, F]: features [B, H, F], rewards [B, H].

    ``rewards[:, t]`` is the reward of the feature reached after ``actions[:, t]``.
    """
    features, rewards = [], []
    for t in range(actions.shape[1]):
        feature = model.step(feature, actions[:, t])
        features.append(feature)
        rewards.append(model.reward(feature))  # while the feature is still in cache
    return tf.stack(features, 1), tf.stack(rewards, 1)


def rollout_returns(model: LatentModel, feature: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    """Sum of the rewards of a rollout [B]: the model's own ``returns`` when it has one."""
    if hasattr(model, "returns"):
        return model.returns(feature, actions)
    return tf.reduce_sum(rollout(model, feature, actions)[1], 1)


def best_plan(scores: tf.Tensor) -> tf.Tensor:
    """Index of the highest score among parallel plans [B]; non-finite scores never win."""
    return tf.argmax(tf.where(tf.math.is_finite(scores), scores, tf.fill(tf.shape(scores), -np.inf)))


def finite_actions(actions: np.ndarray, predicted_return: float = 0.0) -> tuple[np.ndarray, int]:
    """Replace NaN/Inf actions by zeros (docs/algorithm.md#from-plan-to-action) and count how many entries were bad.

    A non-finite predicted return means the model itself broke down during planning, so the
    whole plan is distrusted: every action becomes zero and counts as bad. Finite actions are
    returned as planned, unclipped (see :class:`PlanResult`).
    """
    bad = ~np.isfinite(actions) | (not np.isfinite(predicted_return))
    return np.where(bad, 0.0, actions).astype(np.float32), int(bad.sum())


class CompiledPerModel:
    """A ``tf.function`` built once per model and reused for every plan.

    Planners are called hundreds of times per episode; building the graph function per call
    would retrace each time. ``build(model)`` returns the Python function to compile.
    """

    def __init__(self, build):
        self._build = build
        self._model = None
        self._function = None

    def __call__(self, model: LatentModel, *args):
        if model is not self._model:
            self._function = tf.function(self._build(model))
            self._model = model
        return self._function(*args)
