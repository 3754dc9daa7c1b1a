"""The interface shared by planners and the helpers they all use.

Every planner module (``agents/planners/<agent>.py``, named after the config's ``agent``)
exports ``PLANNER``, a class built as ``PLANNER(PLANNER.Settings.from_config(config), seed)``;
its settings are a :class:`PlannerSettings` dataclass whose fields are config keys, so the
defaults live in ``benchmark/defaults.yaml`` only. ``base`` and ``collocation`` are shared
helpers, not planners.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import tensorflow as tf

from agents.settings import ConfigSettings


class LatentModel(Protocol):
    """What a planner may ask of a model (docs/algorithm.md#the-latent-model-protocol).

    ``step(feature [B, F], action [B, A]) -> mean next feature [B, F]`` and
    ``reward(feature [..., F]) -> [...]`` must be differentiable TensorFlow functions.
    """

    feature_size: int
    action_size: int

    def step(self, feature: tf.Tensor, action: tf.Tensor) -> tf.Tensor: ...

    def reward(self, feature: tf.Tensor) -> tf.Tensor: ...


# Protocol extras: what a planner uses when a model offers it, found with isinstance on these
# named protocols (never hasattr on a bare name), so tests can hold the world model's latent
# model to each of them (tests/test_agent_skeleton.py): a renamed method fails a test.
@runtime_checkable
class ReturnsModel(Protocol):
    """A model that sums a rollout's rewards itself, faster than :func:`rollout` (one graph)."""

    def returns(self, feature: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
        """Returns [B] of ``actions`` [B, H, A] from ``feature`` [B, F]."""


@runtime_checkable
class JacobianModel(Protocol):
    """A model with an analytic step Jacobian (Gauss-Newton planners use it over autodiff)."""

    def step_jacobian(self, feature: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
        """d step / d [feature, action]: [B, F, F + A] for features [B, F] and actions [B, A]."""


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
    if isinstance(model, ReturnsModel):
        return model.returns(feature, actions)
    return tf.reduce_sum(rollout(model, feature, actions)[1], 1)


def best_plan(scores: tf.Tensor) -> tf.Tensor:
    """Index of the highest score among parallel plans [B]; non-finite scores never win."""
    return tf.argmax(tf.where(tf.math.is_finite(scores), scores, tf.fill(tf.shape(scores), -np.inf)))


@dataclass(frozen=True)
class PlannerSettings(ConfigSettings):
    """Base of every planner's settings: each field is a config key of the same name."""


@dataclass(frozen=True)
class ShootingSettings(PlannerSettings):
    """The settings both gradient-based shooting planners have (config keys)."""

    planning_horizon: int
    optimization_steps: int
    gd_lr: float
    lam_lr: float
    lm_update_every: int


def plan_result(actions: np.ndarray, predicted_return: float, iterations: int, started: float,
                diagnostics: Mapping[str, float] | None = None, curves: Mapping[str, np.ndarray] | None = None,
                features: np.ndarray | None = None) -> PlanResult:
    """The one rule for non-finite plans, shared by every planner, and the common diagnostics.

    A plan with a NaN/Inf action, or whose predicted return is not finite (the model broke
    down while planning), is not trusted at all: every action becomes zero (do nothing), as the
    original LatCo does, and ``nonfinite_actions`` counts the entries replaced (all or none).
    Finite plans are returned unclipped (see :class:`PlanResult`). ``started`` is the
    ``time.perf_counter()`` reading at the start of planning.
    """
    actions = np.asarray(actions, np.float32)
    broken = not (np.all(np.isfinite(actions)) and np.isfinite(predicted_return))
    summary = {
        **{name: float(value) for name, value in (diagnostics or {}).items()},
        "predicted_return": float(predicted_return), "iterations": float(iterations),
        "nonfinite_actions": float(actions.size if broken else 0),
        "plan_seconds": time.perf_counter() - started,
    }
    return PlanResult(np.zeros_like(actions) if broken else actions, summary,
                      {name: np.asarray(curve) for name, curve in (curves or {}).items()}, features)


def bound_violation(actions: tf.Tensor) -> tf.Tensor:
    """max(|a| - 1, 0) elementwise: zero inside the action box (the Gauss-Newton residual)."""
    return tf.nn.relu(tf.abs(actions) - 1.0)


def square_bound_violation(actions: tf.Tensor) -> tf.Tensor:
    """max(a^2 - 1, 0) elementwise: the original's bound violation for its penalties and duals."""
    return tf.nn.relu(tf.square(actions) - 1.0)


def adam_update(grad, m, v, step, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-7):
    """One Adam step as Keras computes it; returns (update to subtract, m, v).

    Written out because Keras optimisers cannot be created inside graph loops. The form is
    Keras's (TF 2.2, which the original's gradient planners used, and Keras 3 alike): epsilon
    1e-7 is Kingma and Ba's "epsilon hat", added to sqrt(v) before bias correction, so

        update = lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)
               = lr m_hat / (sqrt(v_hat) + epsilon / sqrt(1 - beta2^t)).

    It matters where gradients are tiny (flat sparse-reward regions, ~1e-6): early on the
    effective epsilon is ~30 epsilon, so those steps stay short where Algorithm 1's form (1e-8
    on sqrt(v_hat)) takes near-full ones. ``step`` counts from 1.
    """
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * tf.square(grad)
    rate = learning_rate * tf.sqrt(1 - beta2**step) / (1 - beta1**step)
    return rate * m / (tf.sqrt(v) + epsilon), m, v


def dual_step_due(iteration: tf.Tensor, every: int) -> tf.Tensor | bool:
    """Whether the multipliers move after this iteration: every ``every`` (never if <= 0)."""
    return every > 0 and iteration % every == every - 1


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


class ActionShooting:
    """Shooting over the actions alone (shooting_gd, shooting_gn): the shared plumbing.

    Actions start from N(0, 1), as in the original; subclasses build the optimiser
    ``optimise(feature [1, F], actions [1, H, A]) -> (actions, per-iteration predicted return)``.
    """

    Settings: type[PlannerSettings]

    def __init__(self, settings: PlannerSettings, seed: int = 0):
        self.s = settings
        self._rng = np.random.default_rng(seed)
        self._optimise = CompiledPerModel(self._build)

    def _build(self, model: LatentModel):
        raise NotImplementedError

    def plan(self, model: LatentModel, feature: tf.Tensor) -> PlanResult:
        started = time.perf_counter()
        init = self._rng.normal(0.0, 1.0, [1, self.s.planning_horizon, model.action_size]).astype(np.float32)
        actions, curve = self._optimise(model, feature, tf.constant(init))
        actions = actions.numpy()[0]
        predicted = rollout_returns(model, feature, tf.constant(np.clip(actions, -1.0, 1.0)[None]))
        return plan_result(actions, float(predicted[0]), self.s.optimization_steps, started,
                           curves={"predicted_return": curve.numpy()})
