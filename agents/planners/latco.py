"""LatCo: latent collocation by Gauss-Newton steps and multiplicative dual updates (docs/algorithm.md#latco-objective).

The plan is X = (x_1 .. x_{H+1}), x_t = [f_t, a_t] (feature, action). For each consecutive
pair three residual groups, all scaled by one normaliser
1 / (mean_t sqrt(lam_t) s_dyn + mean_t sqrt(nu_t) s_act + 1):

    dynamics  sqrt(lam_t) s_dyn (f_{t+1} - step(f_t, a_t))
    actions   sqrt(nu_t)  s_act max(|a_t| - 1, 0)
    reward    softplus(-reward(f_{t+1}))

plus f_1 pinned to the observed feature by a residual weighted 1000. Each iteration takes one
Gauss-Newton step (block-tridiagonal solve, agents/gauss_newton.py) and then moves the
multipliers: lam_t <- lam_t (1 + 0.1 log10((v_t + 0.1 eps) / eps)), so satisfied constraints
relax and violated ones tighten. The same class, configured, gives the ablations
latco_no_constraint (no dual updates) and latco_no_relax (lam starts at 1e8). The first-order
ablation (``latco_solver: adam``) is the original's ``collocation_gd`` (docs/algorithm.md#latco_first_order): Adam
(lr ``gd_lr``) on -sum r + s_dyn sum lam ||gap||^2 + s_act sum nu max(a^2 - 1, 0) with f_1
held at the observation, and additive dual steps lam += lam_lr ||gap||^2, nu += nu_lr
violation (nu per action dimension), no normaliser and no pin residual. s_dyn and s_act are
``dyn_loss_scale`` and ``act_loss_scale``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import tensorflow as tf

from agents.gauss_newton import solve_block_tridiagonal
from agents.planners.base import (
    JacobianModel,
    LatentModel,
    adam_update,
    bound_violation,
    dual_step_due,
    rollout_returns,
    square_bound_violation,
)
from agents.planners.collocation import (
    PIN_WEIGHT,
    CollocationPlanner,
    GaussNewtonSettings,
    action_violation,
    dual_ascent,
    dual_update,
    finish,
    new_curves,
    record,
    residual_normaliser,
)

SOLVERS = ("gauss_newton", "adam")


@dataclass(frozen=True)
class LatcoSettings(GaussNewtonSettings):
    latco_solver: Literal["gauss_newton", "adam"]  # gauss_newton (LatCo) | adam (the original's first-order collocation_gd)
    gd_lr: float  # adam only, as lam_lr and nu_lr
    lam_lr: float
    nu_lr: float

    def __post_init__(self) -> None:
        if self.latco_solver not in SOLVERS:
            raise ValueError(f"latco_solver must be one of {', '.join(SOLVERS)}; got {self.latco_solver!r}")


def dynamics_violation(model: LatentModel, features: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
    """v_dyn,t = ||step(f_t, a_t) - f_{t+1}||^2 for t = 1..H: [B, H+1, F], [B, H+1, A] -> [B, H]."""
    size = model.feature_size
    current = tf.reshape(features[:, :-1], [-1, size])
    predicted = model.step(current, tf.reshape(actions[:, :-1], [-1, model.action_size]))
    gap = tf.reshape(predicted, tf.shape(features[:, 1:])) - features[:, 1:]
    return tf.reduce_sum(tf.square(gap), -1)


class LatCo(CollocationPlanner):
    """Deterministic latent collocation planner over the latent-model protocol."""

    Settings = LatcoSettings
    seed_salt = 7

    # --- residuals -------------------------------------------------------------------
    def _normaliser(self, lam: tf.Tensor, nu: tf.Tensor) -> tf.Tensor:
        return residual_normaliser(lam, nu, self.s.dyn_loss_scale, self.s.act_loss_scale)[:, None, None]

    def _pair_residuals(self, model: LatentModel, x: tf.Tensor, lam: tf.Tensor, nu: tf.Tensor) -> tf.Tensor:
        """All pair residuals [B, H, F + A + 1] of a plan x [B, H+1, F+A]."""
        size = model.feature_size
        features, actions = x[..., :size], x[..., size:]
        current = tf.reshape(features[:, :-1], [-1, size])
        predicted = tf.reshape(
            model.step(current, tf.reshape(actions[:, :-1], [-1, model.action_size])), tf.shape(features[:, 1:])
        )
        dyn = tf.sqrt(lam)[..., None] * self.s.dyn_loss_scale * (features[:, 1:] - predicted)
        act = tf.sqrt(nu)[..., None] * self.s.act_loss_scale * bound_violation(actions[:, :-1])
        reward = tf.nn.softplus(-model.reward(features[:, 1:]))[..., None]
        return self._normaliser(lam, nu) * tf.concat([dyn, act, reward], -1)

    def normal_equations(self, model: LatentModel, x: tf.Tensor, lam: tf.Tensor, nu: tf.Tensor,
                         observed: tf.Tensor, damping: float) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Blocks of J^T J + damping I ([B, H+1, d, d] and [B, H, d, d]) and J^T r ([B, H+1, d]).

        Built from the residuals' structure instead of full Jacobians (docs/algorithm.md#gauss-newton-steps): with
        s the normaliser, L = sqrt(lam) s_dyn, U = sqrt(nu) s_act, S = d step / d x_t and
        q = -sigmoid(-R(f_{t+1})) grad R(f_{t+1}), the Jacobian of pair t is

            w.r.t. x_t:      dynamics -s L S,      actions s U diag(k), reward 0
            w.r.t. x_{t+1}:  dynamics  s L [I 0],  actions 0,           reward s [q 0]

        (k = sign(a) where |a| > 1). So only S needs automatic differentiation (one batch
        Jacobian of the model step), and of the three Gram products only S^T S is a matrix
        product; the others are diagonal, rank one, or S itself. This halves the work of a
        Gauss-Newton iteration compared with differentiating every residual row.
        """
        size, width = model.feature_size, x.shape[-1]
        batch, pairs = tf.shape(x)[0], x.shape[1] - 1
        current = tf.reshape(x[:, :-1], [-1, width])
        features_next = tf.reshape(x[:, 1:, :size], [-1, size])
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([current, features_next])
            predicted = model.step(current[:, :size], current[:, size:])
            reward = model.reward(features_next)
        reward_grad = tape.gradient(reward, features_next)  # [BH, F]
        if isinstance(model, JacobianModel):  # analytic, when the model offers it
            step_jac = model.step_jacobian(current[:, :size], current[:, size:])
        else:
            step_jac = tape.batch_jacobian(predicted, current, experimental_use_pfor=True)  # [BH, F, d]
        del tape
        as_pairs = lambda t: tf.reshape(t, tf.concat([[batch, pairs], tf.shape(t)[1:]], 0))  # noqa: E731
        step_jac, gap = as_pairs(step_jac), as_pairs(features_next - predicted)
        q = as_pairs(-tf.sigmoid(-reward)[:, None] * reward_grad)
        soft = as_pairs(tf.nn.softplus(-reward))  # [B, H]
        actions = x[:, :-1, size:]
        mask = tf.cast(tf.abs(actions) > 1.0, x.dtype)
        s2 = tf.square(self._normaliser(lam, nu))  # [B, 1, 1]
        l2 = (lam * self.s.dyn_loss_scale**2)[..., None, None]
        u2 = (nu * self.s.act_loss_scale**2)[..., None]
        pad_actions = lambda t: tf.pad(t, [[0, 0], [0, 0], [0, width - size]])  # noqa: E731
        eye_f = tf.linalg.diag(tf.concat([tf.ones([size]), tf.zeros([width - size])], 0))

        current_gram = s2[..., None] * (
            l2 * tf.einsum("bhfi,bhfj->bhij", step_jac, step_jac)
            + tf.linalg.diag(tf.pad(u2 * mask, [[0, 0], [0, 0], [size, 0]]))
        )
        q_full = pad_actions(q)
        next_gram = s2[..., None] * (l2 * eye_f + q_full[..., :, None] * q_full[..., None, :])
        lower = -s2[..., None] * l2 * tf.pad(step_jac, [[0, 0], [0, 0], [0, width - size], [0, 0]])
        violation = tf.nn.relu(tf.abs(actions) - 1.0)
        current_rhs = s2 * (
            -l2[..., 0] * tf.einsum("bhfi,bhf->bhi", step_jac, gap)
            + tf.pad(u2 * mask * tf.sign(actions) * violation, [[0, 0], [0, 0], [size, 0]])
        )
        next_rhs = s2 * pad_actions(l2[..., 0] * gap + q * soft[..., None])

        zero_block = tf.zeros_like(current_gram[:, :1])
        diag = tf.concat([current_gram, zero_block], 1) + tf.concat([zero_block, next_gram], 1)
        rhs = tf.concat([current_rhs, tf.zeros_like(current_rhs[:, :1])], 1) + tf.concat(
            [tf.zeros_like(next_rhs[:, :1]), next_rhs], 1)
        # The first feature is pinned to the observation by a residual W (f_1 - observed).
        pin = PIN_WEIGHT**2
        diag = diag + tf.pad(pin * eye_f[None, None], [[0, 0], [0, pairs], [0, 0], [0, 0]])
        rhs = rhs + tf.pad(pin * pad_actions(x[:, :1, :size] - observed[:, None]), [[0, 0], [0, pairs], [0, 0]])
        diag = diag + damping * tf.eye(width, dtype=x.dtype)
        return diag, lower, rhs

    def _first_order_loss(self, model: LatentModel, x: tf.Tensor, observed: tf.Tensor, lam: tf.Tensor,
                          nu: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The original's first-order Lagrangian (docs/algorithm.md#latco_first_order) and its violations.

        -sum_t reward(f_{t+1}) + s_dyn sum_t lam_t ||step(f_t, a_t) - f_{t+1}||^2
        + s_act sum_{t,a} nu_{t,a} max(a^2 - 1, 0), with f_1 the observed feature (a constant,
        not x's first row) and no normaliser. Returns the loss, the gaps [B, H] and the action
        violations [B, H, A].
        """
        size = model.feature_size
        features = tf.concat([observed[:, None], x[:, 1:, :size]], 1)
        actions = x[:, :-1, size:]
        gaps = dynamics_violation(model, features, x[..., size:])
        violation = square_bound_violation(actions)
        loss = (-tf.reduce_sum(model.reward(features[:, 1:])) + self.s.dyn_loss_scale * tf.reduce_sum(lam * gaps)
                + self.s.act_loss_scale * tf.reduce_sum(nu * violation))
        return loss, gaps, violation

    # --- the optimisation ----------------------------------------------------------------
    def _build(self, model: LatentModel):
        s = self.s
        size, width = model.feature_size, model.feature_size + model.action_size
        dtype = tf.float64 if s.solver_dtype == "float64" else tf.float32
        adam = s.latco_solver == "adam"

        def optimise(feature, seed):
            plans, horizon = s.n_parallel_plans, s.planning_horizon
            # Every entry starts from N(0, 1) but f_1, which starts at the observed feature.
            noise = tf.random.stateless_normal([plans, horizon + 1, width], seed=seed)
            observed = tf.repeat(feature, plans, axis=0)
            first = tf.concat([observed[:, None], noise[:, :1, size:]], -1)
            x = tf.concat([first, noise[:, 1:]], 1)
            lam = tf.fill([plans, horizon], s.init_lam)
            # Adam: one multiplier per action dimension, as the original's nu.
            nu = tf.fill([plans, horizon, model.action_size] if adam else [plans, horizon], s.init_nu)
            m_adam, v_adam = tf.zeros_like(x), tf.zeros_like(x)
            v_dyn = dynamics_violation(model, x[..., :size], x[..., size:])
            v_act = action_violation(x[:, :-1, size:])
            curves = new_curves(s.optimization_steps)
            for i in tf.range(s.optimization_steps):
                if adam:
                    with tf.GradientTape() as tape:
                        tape.watch(x)
                        loss, gaps, violation = self._first_order_loss(model, x, observed, lam, nu)
                    update, m_adam, v_adam = adam_update(tape.gradient(loss, x), m_adam, v_adam,
                                                         tf.cast(i + 1, tf.float32), s.gd_lr)
                    # The loss reads f_1 from ``observed``, so x's f_1 has a zero gradient and Adam
                    # leaves it exactly at the observation.
                    x = x - update
                    # As the original: the multipliers (and the curves) see the plan before the step.
                    v_dyn, v_act = gaps, tf.reduce_sum(violation, -1)
                    if dual_step_due(i, s.lm_update_every):
                        lam, nu = dual_ascent(lam, nu, gaps, violation, s.lam_lr, s.nu_lr)
                else:
                    # damping / 2: the original solves (2 J^T J + mu I) d = 2 J^T r.
                    diag, lower, rhs = self.normal_equations(model, x, lam, nu, observed, s.gn_damping / 2)
                    delta = solve_block_tridiagonal(tf.cast(diag, dtype), tf.cast(lower, dtype), tf.cast(rhs, dtype))
                    x = x - tf.cast(delta, x.dtype)
                    v_dyn = dynamics_violation(model, x[..., :size], x[..., size:])
                    v_act = action_violation(x[:, :-1, size:])
                    if dual_step_due(i, s.lm_update_every):
                        lam = dual_update(lam, v_dyn, s.dyn_threshold)
                        nu = dual_update(nu, v_act, s.act_threshold)
                curves = record(curves, i, dynamics_violation=v_dyn, action_violation=v_act, lambda_mean=lam,
                                nu_mean=nu, predicted_reward=tf.reduce_sum(model.reward(x[:, 1:, :size]), 1))
            if adam:  # the final plan's own violations, for the diagnostics
                v_dyn = dynamics_violation(model, x[..., :size], x[..., size:])
                v_act = action_violation(x[:, :-1, size:])
            actions = x[:, :-1, size:]
            returns = rollout_returns(model, observed, tf.clip_by_value(actions, -1.0, 1.0))
            best, final = finish(v_dyn, v_act, lam, nu, returns)
            return actions[best], x[best, :, :size], final, {name: curve.stack() for name, curve in curves.items()}

        return optimise


PLANNER = LatCo
