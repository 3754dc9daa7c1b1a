"""What the collocation planners (latco, platco, image_colloc) share.

They optimise a plan of latents (or images) and actions under a relaxed dynamics constraint
whose multipliers lam (dynamics, per step) and nu (action bounds) move as the optimisation
goes, and they report the same per-iteration curves and final constraint diagnostics. This
module holds those parts once: the multiplier updates, the violations, the residual
normaliser, the curves, the choice among parallel plans, and :class:`CollocationPlanner`,
whose ``plan`` turns one compiled optimisation into a :class:`PlanResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import tensorflow as tf

from agents.planners.base import (
    CompiledPerModel,
    LatentModel,
    PlannerSettings,
    PlanResult,
    best_plan,
    plan_result,
    square_bound_violation,
)


@dataclass(frozen=True)
class CollocationSettings(PlannerSettings):
    """The settings every collocation planner has (config keys)."""

    planning_horizon: int
    optimization_steps: int
    init_lam: float
    init_nu: float
    lm_update_every: int
    dyn_loss_scale: float
    act_loss_scale: float
    n_parallel_plans: int


@dataclass(frozen=True)
class GaussNewtonSettings(CollocationSettings):
    """...and those of the Gauss-Newton ones (latco, platco), with multiplicative dual updates."""

    gn_damping: float
    solver_dtype: Literal["float64", "float32"]
    dyn_threshold: float
    act_threshold: float


PIN_WEIGHT = 1000.0  # weight of the residual that holds the first planned state at the observation
CURVES = ("dynamics_violation", "action_violation", "lambda_mean", "nu_mean", "predicted_reward")

Curves = dict[str, tf.TensorArray]


def action_violation(actions: tf.Tensor) -> tf.Tensor:
    """v_act,t = sum_a max(a_t^2 - 1, 0): actions [B, H, A] -> [B, H]."""
    return tf.reduce_sum(square_bound_violation(actions), -1)


def dual_update(multiplier: tf.Tensor, violation: tf.Tensor, threshold: float) -> tf.Tensor:
    """Multiplicative update: about x0.9 when satisfied, +10% per decade above the threshold."""
    return multiplier * (1.0 + 0.1 * tf.math.log((violation + 0.1 * threshold) / threshold) / np.log(10.0))


def dual_ascent(lam: tf.Tensor, nu: tf.Tensor, v_dyn: tf.Tensor, v_bounds: tf.Tensor, lam_lr: float,
                nu_lr: float) -> tuple[tf.Tensor, tf.Tensor]:
    """Additive update of the first-order planners (latco_first_order, image_colloc), as the
    original's: lam_t += lam_lr v_dyn,t [B, H]; nu_{t,a} += nu_lr max(a_{t,a}^2 - 1, 0) [B, H, A]."""
    return lam + lam_lr * v_dyn, nu + nu_lr * v_bounds


def residual_normaliser(lam: tf.Tensor, nu: tf.Tensor, dyn_scale: float, act_scale: float) -> tf.Tensor:
    """[B]: 1 / (mean sqrt(lam) s_dyn + mean sqrt(nu) s_act + 1), one scale per plan.

    As the multipliers grow, the constraint residuals would swamp the reward residual;
    dividing all residuals by this keeps them balanced. lam [B, H]; nu [B, H] or, one per
    action dimension, [B, H, A] (the mean is over all of a plan's multipliers).
    """
    dyn = tf.reduce_mean(tf.sqrt(lam), 1) * dyn_scale
    act = tf.reduce_mean(tf.reshape(tf.sqrt(nu), [tf.shape(nu)[0], -1]), 1) * act_scale
    return 1.0 / (dyn + act + 1.0)


def new_curves(iterations: int, extra: tuple[str, ...] = ()) -> Curves:
    """One TensorArray per curve (:data:`CURVES` and ``extra``), ``iterations`` long."""
    return {name: tf.TensorArray(tf.float32, iterations) for name in (*CURVES, *extra)}


def record(curves: Curves, iteration: tf.Tensor, **values: tf.Tensor) -> Curves:
    """Write each value's mean over plans (and steps) at ``iteration``; returns the new arrays.

    Keys are curve names: dynamics_violation, action_violation, lambda_mean (lam), nu_mean
    (nu), predicted_reward (the planned states' summed reward per plan) and any extras.
    """
    return {name: curves[name].write(iteration, tf.reduce_mean(value)) for name, value in values.items()}


def finish(v_dyn: tf.Tensor, v_act: tf.Tensor, lam: tf.Tensor, nu: tf.Tensor, returns: tf.Tensor,
           scores: tf.Tensor | None = None, **extra: tf.Tensor) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """The plan kept (index by ``scores``, default ``returns`` [B]) and its final diagnostics.

    Non-finite scores never win (:func:`agents.planners.base.best_plan`); extra diagnostics
    [B] are reported for the kept plan.
    """
    best = best_plan(returns if scores is None else scores)
    final = {"dynamics_violation": tf.reduce_mean(v_dyn[best]), "action_violation": tf.reduce_mean(v_act[best]),
             "lambda_mean": tf.reduce_mean(lam[best]), "lambda_max": tf.reduce_max(lam[best]),
             "nu_mean": tf.reduce_mean(nu[best]), "predicted_return": returns[best],
             **{name: value[best] for name, value in extra.items()}}
    return best, final


Optimise = Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor, Mapping[str, tf.Tensor], Curves]]


class CollocationPlanner:
    """plan() for a collocation planner; subclasses build the compiled optimisation.

    ``_build(model)`` returns ``optimise(feature [1, F], seed [2]) -> (actions [H, A],
    planned features [H+1, F], final diagnostics, stacked curves)`` for the plan kept. Each plan
    draws its initialisation from the stateless seed (counter, ``seed_salt``), the counter
    advancing by 2 per plan from the planner's seed.
    """

    Settings: type[PlannerSettings]
    seed_salt: int

    def __init__(self, settings: PlannerSettings, seed: int = 0):
        self.s = settings
        self._seed = seed
        self._optimise = CompiledPerModel(self._build)

    def _build(self, model: LatentModel) -> Optimise:
        raise NotImplementedError

    def plan(self, model: LatentModel, feature: tf.Tensor) -> PlanResult:
        """Plan from ``feature`` [1, F]: actions [H, A], the planned features [H+1, F]."""
        started = time.perf_counter()
        self._seed += 2
        actions, features, final, curves = self._optimise(
            model, tf.convert_to_tensor(feature, tf.float32), tf.constant([self._seed, self.seed_salt], tf.int32))
        diagnostics = {name: float(value) for name, value in final.items()}
        return plan_result(actions.numpy(), diagnostics.pop("predicted_return"), self.s.optimization_steps, started,
                           diagnostics, {name: curve.numpy() for name, curve in curves.items()}, features.numpy())
