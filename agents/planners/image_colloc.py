"""Image collocation (ablation ``image_colloc``): collocation over planned images, by Adam.

Why. LatCo's claim is that collocating in a learned *latent* space is what makes the
optimisation tractable. This ablation keeps everything else (relaxed dynamics constraint,
multipliers, reward model) but makes the planned observations themselves, 64x64x3 images in
the decoder's [-0.5, 0.5] space, the decision variables, with the dynamics constraint measured
in pixels. (The original release's version of this ablation cannot be imported; this one runs.)

Decision variables, for B parallel plans and horizon H: images o_2 .. o_{H+1} [B, H, 64, 64, 3]
and actions a_1 .. a_H [B, H, A]. o_1 is the real observation and is not optimised: its latent
is the filtered feature f_1 the planner is given. Initialisation mirrors LatCo's N(0, 1)
latents: o_t = decode(z_t), z_t ~ N(0, I) [F], actions ~ N(0, 1).

From image to latent (the protocol extension, :class:`ImageLatentModel`): the model provides
``encode(image [..., 64, 64, 3]) -> embedding [..., E]`` and ``decode(feature [..., F]) -> image``,
and optionally ``posterior(prior [B, F], embedding [B, E]) -> feature [B, F]``. The latent of
planned image o_{t+1} is

    f_{t+1} = posterior(step(f_t, a_t), encode(o_{t+1}))    if the model has ``posterior``,
    f_{t+1} = encode(o_{t+1})                              otherwise (E = F),

i.e. planned images are filtered exactly as real observations are. For the RSSM an image alone
does not determine the latent (the GRU state h is memory), so the latent is [posterior mean of
z given h and the image's embedding, h], with h the GRU state that ``step`` predicts from the
previous latent (:class:`agents.world_model.RSSMLatentModel` offers all three). As in the original (``imco_trunc_bptt``, docs/algorithm.md#image-collocation) backpropagation
is truncated at each step: ``step`` is applied to a stop-gradient of the previous latent, so
the gradient reaching an image or action comes only from the terms of its own step (its latent,
its reward, its pixel error) and never along the recurrent chain. For a memoryless model (the
analytic test model: linear decoder, least-squares encoder) each latent depends on its own
image only, truncated or not.

Objective, summed over t = 1 .. H and minimised by Adam (``gd_lr``) over images and actions,
with the LatCo normaliser N = 1 / (mean_t sqrt(lam_t) s_dyn + mean_t sqrt(nu_t) s_act + 1)
(s_dyn, s_act: ``dyn_loss_scale``, ``act_loss_scale``):

    N^2 [ lam_t s_dyn^2 mean_pixels (o_{t+1} - decode(step(f_t, a_t)))^2   (pixel-space dynamics)
        + nu_t s_act^2 ||max(|a_t| - 1, 0)||^2
        + softplus(-reward(f_{t+1}))^2 ]

Multipliers as in latco_first_order (``latco_solver: adam``): every ``lm_update_every`` steps, gradient ascent
lam_t += lam_lr v_dyn,t, nu_t += nu_lr v_act,t (violations of the plan before that Adam step;
the curves log the same values), with v_act,t = sum max(a^2 - 1, 0) and v_dyn,t the squared
pixel error *averaged* over the D = 64 * 64 * 3 values of the image (``dynamics_violation``).
Why the mean: summed over pixels, as the original does, the initial violation is ~600 (D times
a per-pixel error of ~0.05), the multipliers jump to ~4000 within two steps, the reward's weight
falls to ~1/lam, and Adam's second-moment estimates, filled by those first huge gradients,
keep the steps tiny. Measured on the test reach problem (tests/test_platco_image_colloc.py),
the summed form left the plan at its initialisation (return 4.24 -> 4.29 and 0.14 -> 0.08 in
2000 steps, two seeds). Per pixel, lam_lr sets how fast the constraint tightens independently
of the image size: with lam_lr = 1 (what the ablation inherits from latco) returns improve
(-> 6.3, 1.7) but the pixel MSE is still 6e-4 .. 1e-3 after 2000 steps (latent jumps of ~0.2
per step for the test model's images); with lam_lr = 1000 it is 1e-5 .. 4e-5 after 1000 steps
(returns -> 7.9, 4.9). The test uses lam_lr = 1000, and so should the ablation's config.
At the end the actions, clipped to [-1, 1], are rolled out through the latent model and the
plan with the best predicted return is kept; NaN/Inf actions become zeros.

Cost: one Adam step on a paper-size RSSM (H = 30, one core) measured 0.11 s, so a plan of the
ablation's 5000 steps takes about 9 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import tensorflow as tf

from agents.planners.base import (
    LatentModel,
    adam_update,
    dual_step_due,
    rollout_returns,
    square_bound_violation,
)
from agents.planners.collocation import (
    CollocationPlanner,
    CollocationSettings,
    dual_ascent,
    finish,
    new_curves,
    record,
    residual_normaliser,
)


class ImageLatentModel(LatentModel, Protocol):
    """A latent model that can render a feature and read an image (``posterior`` optional)."""

    def decode(self, feature: tf.Tensor) -> tf.Tensor: ...

    def encode(self, image: tf.Tensor) -> tf.Tensor: ...


@dataclass(frozen=True)
class ImageCollocSettings(CollocationSettings):
    gd_lr: float
    lam_lr: float
    nu_lr: float


class ImageColloc(CollocationPlanner):
    """Collocation over planned images and actions (Adam, gradient ascent on multipliers)."""

    Settings = ImageCollocSettings
    seed_salt = 13

    @staticmethod
    def unroll(model: ImageLatentModel, observed: tf.Tensor, images: tf.Tensor,
               actions: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Latents [B, H+1, F] of (o_1, planned images) and predictions decode(step) [B, H, ...].

        observed [B, F] is f_1; images [B, H, ...] are o_2 .. o_{H+1}; actions [B, H, A].
        """
        embeddings = model.encode(images)  # all images at once: the encoder needs no history
        posterior = getattr(model, "posterior", None)
        latent, latents, priors = observed, [observed], []
        for t in range(images.shape[1]):
            prior = model.step(tf.stop_gradient(latent), actions[:, t])  # truncated BPTT
            latent = embeddings[:, t] if posterior is None else posterior(prior, embeddings[:, t])
            priors.append(prior)
            latents.append(latent)
        return tf.stack(latents, 1), model.decode(tf.stack(priors, 1))

    def objective(self, model: ImageLatentModel, observed: tf.Tensor, images: tf.Tensor, actions: tf.Tensor,
                  lam: tf.Tensor, nu: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """The loss Adam minimises (module docstring) and what the multipliers and curves read.

        observed [B, F], images [B, H, ...], actions [B, H, A], lam [B, H], nu [B, H, A].
        Returns (loss [], pixel violations v_dyn [B, H], bound violations max(a^2 - 1, 0)
        [B, H, A], rewards of the latents f_1 .. f_{H+1} [B, H+1], those latents [B, H+1, F]).
        """
        s = self.s
        latents, predicted = self.unroll(model, observed, images, actions)
        v_dyn = tf.reduce_mean(tf.square(images - predicted), axis=tf.range(2, tf.rank(images)))
        bounds = square_bound_violation(actions)
        rewards = model.reward(latents)
        scale = tf.square(residual_normaliser(lam, nu, s.dyn_loss_scale, s.act_loss_scale))[:, None]  # [B, 1]
        constraints = lam * s.dyn_loss_scale**2 * v_dyn + s.act_loss_scale**2 * tf.reduce_sum(nu * bounds, -1)
        loss = tf.reduce_sum(scale * constraints) + tf.reduce_sum(scale * tf.square(tf.nn.softplus(-rewards)))
        return loss, v_dyn, bounds, rewards, latents

    def _build(self, model: LatentModel):
        s = self.s
        if not (hasattr(model, "encode") and hasattr(model, "decode")):
            raise TypeError("image_colloc needs a model with decode() and encode() (agents.planners.image_colloc."
                            "ImageLatentModel)")
        image_shape = model.decode(tf.zeros([1, model.feature_size])).shape[1:]
        action_size = model.action_size

        def optimise(feature, seed):
            plans, horizon = s.n_parallel_plans, s.planning_horizon
            seeds = tf.random.experimental.stateless_split(seed, 2)
            observed = tf.repeat(feature, plans, axis=0)
            images = tf.random.stateless_normal([plans, horizon, *image_shape], seed=seeds[0])
            actions = tf.random.stateless_normal([plans, horizon, action_size], seed=seeds[1])
            initial_returns = rollout_returns(model, observed, tf.clip_by_value(actions, -1.0, 1.0))
            lam = tf.fill([plans, horizon], s.init_lam)
            nu = tf.fill([plans, horizon, action_size], s.init_nu)
            m_images, v_images = tf.zeros_like(images), tf.zeros_like(images)
            m_actions, v_actions = tf.zeros_like(actions), tf.zeros_like(actions)
            curves = new_curves(s.optimization_steps)
            for i in tf.range(s.optimization_steps):
                with tf.GradientTape() as tape:
                    tape.watch([images, actions])
                    loss, v_dyn, bounds, rewards, _ = self.objective(model, observed, images, actions, lam, nu)
                grad_images, grad_actions = tape.gradient(loss, [images, actions])
                step = tf.cast(i + 1, tf.float32)
                update, m_images, v_images = adam_update(grad_images, m_images, v_images, step, s.gd_lr)
                images = images - update
                update, m_actions, v_actions = adam_update(grad_actions, m_actions, v_actions, step, s.gd_lr)
                actions = actions - update
                # The violations of the plan just differentiated drive the multipliers (as the
                # original does): re-evaluating the updated plan would cost a third more.
                if dual_step_due(i, s.lm_update_every):
                    lam, nu = dual_ascent(lam, nu, v_dyn, bounds, s.lam_lr, s.nu_lr)
                curves = record(curves, i, dynamics_violation=v_dyn, action_violation=tf.reduce_sum(bounds, -1),
                                lambda_mean=lam, nu_mean=nu, predicted_reward=tf.reduce_sum(rewards, 1))
            _, v_dyn, bounds, _, latents = self.objective(model, observed, images, actions, lam, nu)
            returns = rollout_returns(model, observed, tf.clip_by_value(actions, -1.0, 1.0))
            best, final = finish(v_dyn, tf.reduce_sum(bounds, -1), lam, nu, returns, initial_return=initial_returns)
            return actions[best], latents[best], final, {name: curve.stack() for name, curve in curves.items()}

        return optimise


PLANNER = ImageColloc
