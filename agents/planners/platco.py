"""Probabilistic LatCo (platco): collocation over Gaussian latent beliefs (docs/algorithm.md#platco).

Why. Deterministic LatCo plans on the model's mean dynamics, so it is risk-neutral: a region
whose reward is high on average under the *mean* next latent but wildly spread in outcome (the
pointmass lottery: +2 w.p. 0.8, -10 otherwise) looks as good as its mean prediction says.
PLatCo plans a mean *and* a standard deviation for every latent, propagates the spread through
the model's transition noise, and evaluates the reward on samples of the planned belief, so a
plan through a high-variance region pays for its bad outcomes.

Decision variables, per time t = 1 .. H+1 (shapes for B parallel plans, F = feature size,
A = action size): x_t = [m_t (F), s_t (F), a_t (A)], width 2F + A; the planned belief is
N(m_t, diag(|s_t|^2)). m_1 is pinned to the observed feature and s_1 to ``init_std`` (weight
1000); the other means and the actions start from N(0, 1), every s_t at ``init_std`` (1e-6).

Residuals of each consecutive pair (t, t+1), m = 2F + A + 1 rows, scaled by the LatCo
normaliser 1 / (mean_t sqrt(lam_t) s_dyn + mean_t sqrt(nu_t) s_act + 1):

    dynamics  sqrt(lam_t) s_dyn [m_{t+1} - mean_k y_k,  |s_{t+1}| - sg(std_k y_k)]   (2F)
    actions   sqrt(nu_t)  s_act max(|a_t| - 1, 0)                                     (A)
    reward    softplus(-reward(m_{t+1} + sg(|s_{t+1}|) xi)),  xi ~ N(0, I)            (1)

with the particles p_k = m_t + sg(|s_t|) e_k and their stochastic successors
y_k = mean(p_k, a_t) + std(p_k, a_t) eta_k (``step_moments``), k = 1 .. n_particles (sg =
stop-gradient; s_dyn, s_act are ``dyn_loss_scale``, ``act_loss_scale``).
As in the original (docs/algorithm.md#platco), the std residual moves only s_{t+1}: the spread of a plan
is carried forward by moment matching, never shaped through s_t or the predicted std. The
violation used by the dual update is the mean gap alone, v_t = ||m_{t+1} - mean y||^2, and the
multipliers move exactly as in LatCo (:func:`agents.planners.collocation.dual_update`, threshold
1e-2 for platco). The plan kept (of ``n_parallel_plans``) is the one whose actions, clipped to
[-1, 1], have the best mean return over n_particles stochastic rollouts.

Choices (and why):

* e_k and eta_k are drawn once per plan (common random numbers over iterations), standardised
  across particles, and eta is orthogonalised against e (:func:`particle_noise`). The moment
  residual is then a deterministic function of the plan, so Gauss-Newton can satisfy it to the
  threshold instead of chasing a Monte-Carlo noise floor of about F std^2 / n_particles (which
  would keep the multipliers growing for ever), and the particles reproduce the planned
  belief's mean and std exactly.
* xi, the reward sample, is drawn afresh at every iteration: a sample fixed for the whole
  optimisation would let the planner tune the plan to one lucky outcome. Over iterations the
  squared residual softplus(-r)^2, convex and increasing in -r, lets rare catastrophic samples
  (-10) outweigh lucky ones, which pushes the planned means out of high-spread regions.
* The reward does not differentiate through the std (sg above), as in the original: otherwise
  each iteration's single sample kicks the stds at random (measured: position stds of a
  noise-free coordinate grew to 0.7 on the lottery test model). The stds are set by moment
  matching alone; risk enters through the means.
* The std is parametrised by a raw, signed s (std = |s|), not log-std: with std starting at
  1e-6, d std / d log std = 1e-6 would let a damped Gauss-Newton step move log-std by ~1e-4 per
  iteration, while d|s|/ds = +-1 matches the std residual in one step. N(m, s^2) does not
  depend on the sign of s.

Optimiser: Gauss-Newton, one damped step per iteration on [m, s, a], with the block-tridiagonal
solver of agents/gauss_newton.py (every residual touches only x_t and x_{t+1}), as LatCo. With
the particle noise fixed, only the single reward row changes between iterations, and full
steps were stable in every test; Adam was not needed, and would need hundreds of iterations
rather than the protocol's 50. The pair Jacobian w.r.t. x_t is by default that of the
linearised (delta-method) moment propagation, see :meth:`PLatCo._linearised_jacobians`;
differentiating through every particle (``exact_jacobian=True``) costs about n_particles times
more. Measured on a paper-size RSSM (F = 230, 50 particles, one core), when the std residual
was still differentiated w.r.t. x_t: exact 8.4 s per iteration and 6.3 GB at H = 10;
linearised 0.5 s per iteration at H = 20, ~25 s per plan (LatCo: ~0.03 s per iteration); the
linearised Jacobian now needs the step's Jacobian only, so it costs less. On the lottery test
model (tests/test_platco_image_colloc.py) PLatCo chose the safe goal for 13 of 14 seeds
linearised and 12 of 14 exact, where LatCo chose the risky one for 14 of 14.

Protocol extension: an optional ``step_moments(feature [B, F], action [B, A]) -> (mean, std)``,
``step`` and the standard deviation of the model's transition noise around it, [B, F] each,
in one pass (:class:`agents.world_model.RSSMLatentModel`: the prior's std for the stochastic
part, 0 for the GRU state). A model without it is noise-free (then PLatCo plans like LatCo
with spread-tracking).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import tensorflow as tf

from agents.gauss_newton import gauss_newton_step
from agents.planners import collocation
from agents.planners.base import JacobianModel, LatentModel, bound_violation, dual_step_due, rollout_returns
from agents.planners.collocation import PIN_WEIGHT, CollocationPlanner, GaussNewtonSettings

STD_FLOOR = 1e-12  # added to particle variances so sqrt stays differentiable at zero spread


@runtime_checkable
class StochasticLatentModel(LatentModel, Protocol):
    """A latent model with transition noise: next ~ N(mean, diag(std^2)) = step_moments(f, a)."""

    def step_moments(self, feature: tf.Tensor, action: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]: ...


@dataclass(frozen=True)
class PlatcoSettings(GaussNewtonSettings):
    init_std: float
    n_particles: int
    exact_jacobian: bool  # differentiate through every particle (small models only)

    def __post_init__(self) -> None:
        if self.n_particles < 2:
            raise ValueError("platco needs n_particles >= 2 to estimate a standard deviation")


def step_moments(model: LatentModel, feature: tf.Tensor, action: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean and std of the next feature, [B, F] each, for features [B, F] and actions [B, A].

    The model's own ``step_moments`` (:class:`StochasticLatentModel`); a model without it is
    deterministic: zero noise around ``step``.
    """
    if isinstance(model, StochasticLatentModel):
        return model.step_moments(feature, action)
    mean = model.step(feature, action)
    return mean, tf.zeros_like(mean)


def particle_noise(shape: tf.Tensor | list, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Particle noise e and transition noise eta, [N, P, F] each, for N pairs of P particles.

    Both are standardised over the particle axis P (zero mean, unit std per dimension), and
    eta is orthogonalised against e dimension by dimension. Why: particles m + |s| e then
    have exactly mean m and std |s|, and for a locally linear step with diagonal Jacobian the
    particle std of the successors is exactly sqrt(G^2 s^2 + sigma^2), the formula the
    linearised Jacobian differentiates; without the orthogonalisation a sample correlation of
    order 1/sqrt(P) between e and eta makes residual and Jacobian disagree.
    """
    first, second = tf.unstack(tf.random.experimental.stateless_split(seed, 2))

    def standardise(e: tf.Tensor) -> tf.Tensor:
        e = e - tf.reduce_mean(e, 1, keepdims=True)
        return e / tf.sqrt(tf.reduce_mean(tf.square(e), 1, keepdims=True) + 1e-12)

    eps = standardise(tf.random.stateless_normal(shape, seed=first))
    eta = standardise(tf.random.stateless_normal(shape, seed=second))
    eta = standardise(eta - tf.reduce_mean(eta * eps, 1, keepdims=True) * eps)
    return eps, eta


class PLatCo(CollocationPlanner):
    """Probabilistic latent collocation planner (Gauss-Newton, moment matching, dual updates)."""

    Settings = PlatcoSettings
    seed_salt = 11

    # --- residuals -------------------------------------------------------------------
    def _normaliser(self, lam: tf.Tensor, nu: tf.Tensor) -> tf.Tensor:
        """[B, 1]: LatCo's per-plan scale, so growing multipliers do not swamp the reward."""
        return collocation.residual_normaliser(lam, nu, self.s.dyn_loss_scale, self.s.act_loss_scale)[:, None]

    def _particle_moments(self, model: LatentModel, current: tf.Tensor, eps: tf.Tensor,
                          eta: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Moments [N, F] each of the stochastic successors of N planned beliefs.

        current [N, 2F + A] = [m_t, s_t, a_t]; eps, eta [N, P, F] standardised noise for the
        particles and for the transition. Returns (mean_k y_k, std_k y_k). As in the original,
        the particles spread by a stop-gradient std and the std is returned as a constant: the
        mean residual moves m_t and a_t, the std residual only s_{t+1}.
        """
        size = model.feature_size
        n, particles = tf.shape(current)[0], eps.shape[1]
        mean, scale, action = current[:, :size], current[:, size:2 * size], current[:, 2 * size:]
        points = tf.reshape(mean[:, None] + tf.stop_gradient(tf.abs(scale))[:, None] * eps, [-1, size])
        next_mean, next_std = step_moments(model, points, tf.repeat(action, particles, axis=0))
        successors = tf.reshape(next_mean + next_std * tf.reshape(eta, [-1, size]), [n, particles, size])
        moment_mean = tf.reduce_mean(successors, 1)
        variance = tf.reduce_mean(tf.square(successors - moment_mean[:, None]), 1)
        return moment_mean, tf.stop_gradient(tf.sqrt(variance + STD_FLOOR))

    def _pair_residuals(self, model: LatentModel, current: tf.Tensor, following: tf.Tensor, eps: tf.Tensor,
                        eta: tf.Tensor, xi: tf.Tensor, lam: tf.Tensor, nu: tf.Tensor,
                        scale: tf.Tensor) -> tf.Tensor:
        """Residuals [N, 2F + A + 1] of N pairs (x_t = current [N, d], x_{t+1} = following [N, d]).

        xi [N, F] is the reward sample's noise; lam, nu, scale [N, 1] per pair.
        """
        size = model.feature_size
        moment_mean, moment_std = self._particle_moments(model, current, eps, eta)
        mean_next, std_next = following[:, :size], tf.abs(following[:, size:2 * size])
        dyn = tf.sqrt(lam) * self.s.dyn_loss_scale * tf.concat([mean_next - moment_mean, std_next - moment_std], -1)
        act = tf.sqrt(nu) * self.s.act_loss_scale * bound_violation(current[:, 2 * size:])
        reward = tf.nn.softplus(-model.reward(mean_next + tf.stop_gradient(std_next) * xi))[:, None]
        return scale * tf.concat([dyn, act, reward], -1)

    def _pair_jacobians(self, model: LatentModel, x: tf.Tensor, eps: tf.Tensor, eta: tf.Tensor, xi: tf.Tensor,
                        lam: tf.Tensor, nu: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Residuals [B, H, m] and Jacobians w.r.t. x_t and x_{t+1}, [B, H, m, d] each.

        x [B, H+1, d]; eps, eta [B H, P, F]; xi [B H, F]; lam, nu [B, H]. Each pair's
        residual depends on its two plan entries only, so the B*H pairs are handled as a
        batch. Exact: one batch_jacobian through every particle. Linearised (default): see
        :meth:`_linearised_jacobians`.
        """
        batch, pairs, width = tf.shape(x)[0], x.shape[1] - 1, x.shape[-1]
        current = tf.reshape(x[:, :-1], [-1, width])
        following = tf.reshape(x[:, 1:], [-1, width])
        scale = tf.reshape(tf.repeat(self._normaliser(lam, nu), pairs, axis=1), [-1, 1])
        lam_flat, nu_flat = tf.reshape(lam, [-1, 1]), tf.reshape(nu, [-1, 1])
        if self.s.exact_jacobian:
            with tf.GradientTape(persistent=True) as tape:
                tape.watch([current, following])
                residual = self._pair_residuals(model, current, following, eps, eta, xi, lam_flat, nu_flat, scale)
            jac_current = tape.batch_jacobian(residual, current, experimental_use_pfor=True)
            jac_next = tape.batch_jacobian(residual, following, experimental_use_pfor=True)
            del tape
        else:
            residual, jac_current, jac_next = self._linearised_jacobians(
                model, current, following, eps, eta, xi, lam_flat, nu_flat, scale)
        m = residual.shape[-1]
        return (tf.reshape(residual, [batch, pairs, m]), tf.reshape(jac_current, [batch, pairs, m, width]),
                tf.reshape(jac_next, [batch, pairs, m, width]))

    def _linearised_jacobians(self, model: LatentModel, current: tf.Tensor, following: tf.Tensor, eps: tf.Tensor,
                              eta: tf.Tensor, xi: tf.Tensor, lam: tf.Tensor, nu: tf.Tensor,
                              scale: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Residuals [N, m] (from the particles) and Jacobians [N, m, d] of N pairs.

        Why: the exact Jacobian of the particle mean needs a backward pass per particle and
        output row. Here it is that of the first-order (delta-method) propagation around the
        mean, d mean_y / d (m, s, a) = [G_f, 0, G_a] with G = d step / d [f, a] at the mean
        (one Jacobian per pair, LatCo's cost; analytic when the model offers
        ``step_jacobian``). The std residual has no Jacobian w.r.t. x_t (the predicted std is
        a constant, see :meth:`_particle_moments`). The Jacobians w.r.t. x_{t+1} (the planned
        moments themselves and the reward sample) and of the action rows are exact.
        """
        size, actions_size = model.feature_size, model.action_size
        width = current.shape[-1]
        mean, action = current[:, :size], current[:, 2 * size:]
        if isinstance(model, JacobianModel):  # optional protocol part: d step / d [f, a]
            step_jac = model.step_jacobian(mean, action)
        else:
            point = tf.concat([mean, action], -1)
            with tf.GradientTape() as tape:
                tape.watch(point)
                predicted = model.step(point[:, :size], point[:, size:])
            step_jac = tape.batch_jacobian(predicted, point, experimental_use_pfor=True)  # [N, F, F + A]
        moment_mean, moment_std = self._particle_moments(model, current, eps, eta)

        mean_next, scale_next = following[:, :size], following[:, size:2 * size]
        sign_next = tf.where(scale_next < 0.0, -1.0, 1.0)
        sample = mean_next + tf.abs(scale_next) * xi
        with tf.GradientTape() as tape:
            tape.watch(sample)
            reward = model.reward(sample)
        reward_grad = tape.gradient(reward, sample)  # [N, F]
        c_dyn = tf.sqrt(lam) * self.s.dyn_loss_scale
        c_act = tf.sqrt(nu) * self.s.act_loss_scale
        residual = scale * tf.concat([
            c_dyn * (mean_next - moment_mean), c_dyn * (tf.abs(scale_next) - moment_std),
            c_act * bound_violation(action), tf.nn.softplus(-reward)[:, None]], -1)

        n = tf.shape(current)[0]
        zeros = lambda rows, cols: tf.zeros(tf.stack([n, rows, cols]))  # noqa: E731
        eye = tf.eye(size, batch_shape=[1])
        # d / d x_{t+1}: rows [mean (F), std (F), actions (A), reward (1)] x columns [m', s', a'].
        q = (-tf.sigmoid(-reward))[:, None] * reward_grad  # d softplus(-r) / d sample
        jac_next = tf.concat([
            tf.concat([c_dyn[..., None] * tf.tile(eye, [n, 1, 1]), zeros(size, size + actions_size)], -1),
            tf.concat([zeros(size, size), c_dyn[..., None] * tf.linalg.diag(sign_next),
                       zeros(size, actions_size)], -1),
            zeros(actions_size, width),
            tf.concat([q, tf.zeros([n, size + actions_size])], -1)[:, None],
        ], 1)
        # d / d x_t: the mean rows by linearised propagation, nothing for the std rows.
        step_f, step_a = step_jac[..., :size], step_jac[..., size:]
        outside = tf.cast(tf.abs(action) > 1.0, current.dtype) * tf.sign(action)
        jac_current = tf.concat([
            -c_dyn[..., None] * tf.concat([step_f, zeros(size, size), step_a], -1),
            zeros(size, width),
            tf.concat([zeros(actions_size, 2 * size), c_act[..., None] * tf.linalg.diag(outside)], -1),
            zeros(1, width),
        ], 1)
        return residual, scale[..., None] * jac_current, scale[..., None] * jac_next

    def _violations(self, model: LatentModel, x: tf.Tensor, eps: tf.Tensor,
                    eta: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Mean-dynamics violation v_dyn [B, H] and action violation v_act [B, H] of x.

        Only the mean gap ||m_{t+1} - mean y||^2 drives the multipliers, as in the original:
        the std residual is matched but never tightened.
        """
        size, width = model.feature_size, x.shape[-1]
        batch, pairs = tf.shape(x)[0], x.shape[1] - 1
        moment_mean, _ = self._particle_moments(model, tf.reshape(x[:, :-1], [-1, width]), eps, eta)
        gap = tf.reshape(x[:, 1:, :size], [-1, size]) - moment_mean
        v_dyn = tf.reshape(tf.reduce_sum(tf.square(gap), -1), [batch, pairs])
        return v_dyn, collocation.action_violation(x[:, :-1, 2 * size:])

    # --- the optimisation ----------------------------------------------------------------
    def _build(self, model: LatentModel):
        s = self.s
        size, actions_size = model.feature_size, model.action_size
        dtype = tf.float64 if s.solver_dtype == "float64" else tf.float32

        def expected_returns(observed, actions, seed):
            """Mean return [B] of n_particles stochastic rollouts of actions [B, H, A]."""
            plans, particles = tf.shape(actions)[0], s.n_particles
            feature = tf.repeat(observed, particles, axis=0)
            repeated = tf.repeat(actions, particles, axis=0)
            noise = tf.random.stateless_normal([s.planning_horizon, plans * particles, size], seed=seed)
            total = tf.zeros([plans * particles])
            for t in range(s.planning_horizon):
                mean, std = step_moments(model, feature, repeated[:, t])
                feature = mean + std * noise[t]
                total += model.reward(feature)
            return tf.reduce_mean(tf.reshape(total, [plans, particles]), 1)

        def optimise(feature, seed):
            plans, pairs = s.n_parallel_plans, s.planning_horizon
            seeds = tf.random.experimental.stateless_split(seed, 4)
            init = tf.random.stateless_normal([plans, pairs + 1, size + actions_size], seed=seeds[0])
            observed = tf.repeat(feature, plans, axis=0)
            means = tf.concat([observed[:, None], init[:, 1:, :size]], 1)
            scales = tf.fill([plans, pairs + 1, size], s.init_std)
            x = tf.concat([means, scales, init[..., size:]], -1)
            shape = [plans * pairs, s.n_particles, size]
            eps, eta = particle_noise(shape, seeds[1])
            xis = tf.random.stateless_normal([s.optimization_steps, plans * pairs, size], seed=seeds[2])
            lam = tf.fill([plans, pairs], s.init_lam)
            nu = tf.fill([plans, pairs], s.init_nu)
            # r_0 = 1000 [m_1 - observed, s_1 - init_std] pins the first belief.
            pin = tf.concat([tf.eye(2 * size), tf.zeros([2 * size, actions_size])], 1)
            first_jac = tf.tile(PIN_WEIGHT * pin[None], [plans, 1, 1])
            v_dyn, v_act = self._violations(model, x, eps, eta)
            curves = collocation.new_curves(s.optimization_steps, ("std_mean",))
            for i in tf.range(s.optimization_steps):
                first_residual = PIN_WEIGHT * tf.concat(
                    [x[:, 0, :size] - observed, x[:, 0, size:2 * size] - s.init_std], -1)
                residual, jac_current, jac_next = self._pair_jacobians(model, x, eps, eta, xis[i], lam, nu)
                delta = gauss_newton_step(jac_current, jac_next, residual, s.gn_damping / 2, first_jac,
                                          first_residual, dtype=dtype)
                x = x - delta
                v_dyn, v_act = self._violations(model, x, eps, eta)
                if dual_step_due(i, s.lm_update_every):
                    lam = collocation.dual_update(lam, v_dyn, s.dyn_threshold)
                    nu = collocation.dual_update(nu, v_act, s.act_threshold)
                curves = collocation.record(curves, i, dynamics_violation=v_dyn, action_violation=v_act, lambda_mean=lam,
                                nu_mean=nu, predicted_reward=tf.reduce_sum(model.reward(x[:, 1:, :size]), 1),
                                std_mean=tf.abs(x[:, 1:, size:2 * size]))
            actions = x[:, :-1, 2 * size:]
            executed = tf.clip_by_value(actions, -1.0, 1.0)
            returns = rollout_returns(model, observed, executed)
            # The plan kept is the best under the stochastic model (as the original does).
            expected = expected_returns(observed, executed, seeds[3])
            best, final = collocation.finish(v_dyn, v_act, lam, nu, returns, expected, expected_return=expected,
                                 std_mean=tf.reduce_mean(tf.abs(x[:, 1:, size:2 * size]), [1, 2]))
            return actions[best], x[best, :, :size], final, {name: curve.stack() for name, curve in curves.items()}

        return optimise


PLANNER = PLatCo
