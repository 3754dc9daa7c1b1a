"""Planners against small analytic latent models: no images, no training, exact expectations."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import minimize

from agents.planners.base import rollout
from agents.planners.cem import CEM
from agents.planners.latco import LatCo
from agents.planners.mppi import MPPI
from agents.planners.shooting_gd import GradientShooting
from agents.planners.shooting_gn import GaussNewtonShooting
from benchmark.config import default_settings


def make(planner, seed: int = 0, **settings):
    """A planner with benchmark/defaults.yaml's settings but ``settings`` (named like config keys)."""
    return planner(default_settings(planner.Settings, **settings), seed)


class PointModel:
    """f' = f + speed * a in 2-D, reward = exp(-||f - goal||^2 / (2 width^2)) in (0, 1]."""

    feature_size = 2
    action_size = 2

    def __init__(self, goal=(1.0, -0.5), width=0.7071, speed=0.1):
        self.goal, self.width, self.speed = tf.constant(goal, tf.float32), width, speed

    def step(self, feature, action):
        return feature + self.speed * action

    def reward(self, feature):
        return tf.exp(-tf.reduce_sum(tf.square(feature - self.goal), -1) / (2 * self.width**2))


class NaNModel(PointModel):
    def step(self, feature, action):
        return feature * np.nan + action


START = tf.zeros([1, 2])


def true_return(model, actions: np.ndarray) -> float:
    """The return of a plan as executed: its actions clipped to the box."""
    executed = tf.constant(np.clip(actions, -1.0, 1.0)[None], tf.float32)
    return float(tf.reduce_sum(rollout(model, START, executed)[1]))


def best_return_by_bounded_search(model, horizon: int) -> float:
    """The optimum of the same problem by L-BFGS-B over the actions in the box [-1, 1]."""
    def negative_return(flat):
        return -true_return(model, flat.reshape(horizon, 2).astype(np.float32))

    starts = [np.tile([1.0, -1.0], horizon), np.tile([1.0, -0.5], horizon), np.zeros(2 * horizon)]
    results = [minimize(negative_return, s, bounds=[(-1, 1)] * 2 * horizon, method="L-BFGS-B") for s in starts]
    return max(-r.fun for r in results)


def test_latco_reaches_the_optimum_of_a_linear_model_and_satisfies_the_dynamics():
    model = PointModel()
    result = make(LatCo, planning_horizon=20, optimization_steps=100).plan(model, START)
    optimum = best_return_by_bounded_search(model, 20)
    achieved = true_return(model, result.actions)
    assert achieved >= 0.97 * optimum, (achieved, optimum)
    assert result.diagnostics["dynamics_violation"] < 1e-4 * 2
    assert np.all(np.abs(result.actions) <= 1.0 + 1e-3)  # unclipped: inside up to the act_threshold
    curve = result.curves["dynamics_violation"]
    assert len(curve) == 100 and curve[-1] < curve[0]


def test_latco_finds_a_far_narrow_reward_that_small_population_cem_misses():
    """The paper's claim in miniature: a long horizon to a narrow reward region."""
    model = PointModel(goal=(1.5, 0.0), width=0.25, speed=0.05)
    for seed in (0, 1):
        latco = make(LatCo, seed, planning_horizon=40, optimization_steps=100).plan(model, START)
        cem = make(CEM, seed, planning_horizon=40, optimization_steps=5, cem_samples=50, cem_elite_ratio=0.1).plan(model, START)
        latco_return, cem_return = true_return(model, latco.actions), true_return(model, cem.actions)
        latco_peak = float(tf.reduce_max(model.reward(rollout(model, START, latco.actions[None])[0])))
        cem_peak = float(tf.reduce_max(model.reward(rollout(model, START, cem.actions[None])[0])))
        assert latco_return > 3.0 and latco_return > 4 * cem_return, (seed, latco_return, cem_return)
        assert latco_peak > 0.25 > 0.1 > cem_peak, (seed, latco_peak, cem_peak)


def test_parallel_latco_plans_escape_the_starts_where_a_single_plan_gets_stuck():
    """``n_parallel_plans`` (the latco_restarts ablation): with few iterations some N(0, 1) starts
    never reach a far narrow reward; keeping the best of 8 plans reaches it from every seed."""
    model = PointModel(goal=(1.5, 0.0), width=0.25, speed=0.05)

    def returns(plans: int) -> np.ndarray:
        return np.array([true_return(model, make(LatCo, seed, planning_horizon=40, optimization_steps=20,
                                                  n_parallel_plans=plans).plan(model, START).actions)
                         for seed in range(6)])

    single, parallel = returns(1), returns(8)
    assert single.min() < 0.5, single  # at least one start gets stuck far from the reward
    assert parallel.min() > 1.5 and parallel.mean() > single.mean() + 0.5, (single, parallel)


@pytest.mark.parametrize("planner, curve", [
    (make(CEM, planning_horizon=10, optimization_steps=6, cem_samples=200, cem_elite_ratio=0.1),
     "best_sample_return"),
    (make(MPPI, planning_horizon=10, optimization_steps=6, cem_samples=200, mppi_gamma=10.0), "best_sample_return"),
    (make(GradientShooting, planning_horizon=10, optimization_steps=60, gd_lr=0.05), "predicted_return"),
    (make(GaussNewtonShooting, planning_horizon=10, optimization_steps=15, gn_damping=1e-2, gd_lr=0.5),
     "predicted_return"),
], ids=["cem", "mppi", "shooting_gd", "shooting_gn"])
def test_baseline_improves_its_objective_and_keeps_actions_in_bounds(planner, curve):
    model = PointModel()
    result = planner.plan(model, START)
    values = result.curves[curve]
    assert values[-1] > values[0] + 0.5, values
    assert np.all(np.isfinite(result.actions)) and result.actions.shape == (10, 2)
    assert true_return(model, result.actions) == pytest.approx(result.diagnostics["predicted_return"], rel=1e-4)


class HalfNaNModel(PointModel):
    """NaN only where the plan's first action coordinate is above 0.5: some plans break, partly."""

    def step(self, feature, action):
        return feature + self.speed * tf.where(action[..., :1] > 0.5, np.nan, action)


@pytest.mark.parametrize("planner", [
    make(LatCo, planning_horizon=5, optimization_steps=3),
    make(LatCo, planning_horizon=5, optimization_steps=3, latco_solver="adam"),
    make(CEM, planning_horizon=5, optimization_steps=2, cem_samples=20, cem_elite_ratio=0.2),
    make(MPPI, planning_horizon=5, optimization_steps=2, cem_samples=20),
    make(GradientShooting, planning_horizon=5, optimization_steps=3),
    make(GaussNewtonShooting, planning_horizon=5, optimization_steps=3),
], ids=["latco", "latco_first_order", "cem", "mppi", "shooting_gd", "shooting_gn"])
@pytest.mark.parametrize("model", [NaNModel(), HalfNaNModel()], ids=["nan", "half_nan"])
def test_every_planner_replaces_a_non_finite_plan_by_zeros_and_counts_it(planner, model):
    """One rule everywhere: a plan with a non-finite action or predicted return is all zeros."""
    result = planner.plan(model, START)
    broken = not np.isfinite(result.diagnostics["predicted_return"])
    if broken or isinstance(model, NaNModel):
        assert np.all(result.actions == 0.0) and result.diagnostics["nonfinite_actions"] == result.actions.size
    else:  # a finite plan is kept whole
        assert np.all(np.isfinite(result.actions)) and result.diagnostics["nonfinite_actions"] == 0


def test_ablations_are_configurations_of_the_same_planner():
    model = PointModel()
    fixed = make(LatCo, planning_horizon=10, optimization_steps=10, lm_update_every=-1, dyn_loss_scale=8.0,
                 act_loss_scale=16.0)
    curves = fixed.plan(model, START).curves
    assert np.all(curves["lambda_mean"] == 1.0) and np.all(curves["nu_mean"] == 1.0)
    no_relax = make(LatCo, planning_horizon=10, optimization_steps=10, init_lam=1e8).plan(model, START)
    assert no_relax.curves["lambda_mean"][0] > 1e7
    relaxed = make(LatCo, planning_horizon=10, optimization_steps=10).plan(model, START)
    first_no_relax, first_relaxed = no_relax.curves["dynamics_violation"][0], relaxed.curves["dynamics_violation"][0]
    assert first_no_relax < 1e-4 and first_no_relax < first_relaxed / 100, "lambda 1e8 enforces the dynamics at once"
    first_order = make(LatCo, planning_horizon=10, optimization_steps=200, latco_solver="adam", gd_lr=0.05,
                       lm_update_every=5, lam_lr=1.5, nu_lr=1.5).plan(model, START)
    assert first_order.curves["predicted_reward"][-1] > first_order.curves["predicted_reward"][0]
    assert true_return(model, first_order.actions) > 2.0


class NonlinearModel:
    """A small nonlinear model, to compare the structured normal equations with autodiff."""

    feature_size = 3
    action_size = 2

    def __init__(self):
        rng = np.random.default_rng(0)
        self.w = tf.constant(rng.normal(size=(3, 3)), tf.float32)
        self.v = tf.constant(rng.normal(size=(2, 3)), tf.float32)

    def step(self, feature, action):
        return tf.tanh(feature @ self.w + action @ self.v) + 0.5 * feature

    def reward(self, feature):
        return tf.sin(tf.reduce_sum(feature * tf.constant([1.0, -0.5, 0.3]), -1))


def test_structured_normal_equations_equal_autodiff_of_every_residual():
    from agents.gauss_newton import build_normal_equations
    from agents.planners.collocation import PIN_WEIGHT

    model, horizon = NonlinearModel(), 4
    latco = make(LatCo, planning_horizon=horizon, optimization_steps=1, dyn_loss_scale=2.0, act_loss_scale=3.0)
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(scale=1.5, size=(1, horizon + 1, 5)), tf.float32)  # some |a| > 1
    lam = tf.constant(rng.uniform(0.5, 3, (1, horizon)), tf.float32)
    nu = tf.constant(rng.uniform(0.5, 3, (1, horizon)), tf.float32)
    observed = tf.constant(rng.normal(size=(1, 3)), tf.float32)
    diag, lower, rhs = latco.normal_equations(model, x, lam, nu, observed, 1e-3)

    with tf.GradientTape() as tape:
        tape.watch(x)
        residual = latco._pair_residuals(model, x, lam, nu)  # [1, H, m]
    full = tape.jacobian(residual, x)[0, :, :, 0]  # [H, m, H+1, d]
    jac_current = tf.stack([full[t, :, t] for t in range(horizon)])[None]
    jac_next = tf.stack([full[t, :, t + 1] for t in range(horizon)])[None]
    first_jac = tf.concat([PIN_WEIGHT * tf.eye(3), tf.zeros([3, 2])], 1)[None]
    first_residual = PIN_WEIGHT * (x[:, 0, :3] - observed)
    reference = build_normal_equations(jac_current, jac_next, residual, 1e-3, first_jac, first_residual)
    for ours, theirs in zip((diag, lower, rhs), reference, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=2e-4, atol=2e-2)


def test_the_agent_table_lists_exactly_the_keys_each_planner_reads():
    """agents/registry.py's AGENTS is checked at registry load without TensorFlow: each planner's
    row must name every Settings field beyond its whole sections, and nothing else."""
    import dataclasses
    import importlib

    from agents.registry import AGENTS, PLANNER_PACKAGE, planner_agents
    from benchmark.config import section_keys

    for agent in planner_agents():
        row = AGENTS[agent]
        fields = {f.name for f in dataclasses.fields(importlib.import_module(f"{PLANNER_PACKAGE}.{agent}").PLANNER.Settings)}
        whole = {key for section in row.sections for key in section_keys(section)}
        assert fields <= row.reads(section_keys), agent
        assert fields - whole == set(row.keys), agent
