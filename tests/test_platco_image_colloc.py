"""Probabilistic LatCo and image collocation on small analytic models: no MuJoCo, no training.

The lottery model is the pointmass lottery in miniature: a risky goal whose mean-model reward
(+2) beats the safe goal's (+1), but where the outcome coordinate diffuses, and a large |outcome|
turns the +2 into -10. A risk-neutral planner on the mean model goes risky; one that tracks
the spread must go safe.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml
from test_planners import make

from agents.planners.base import rollout
from agents.planners.image_colloc import ImageColloc, ImageCollocSettings
from agents.planners.latco import LatCo
from agents.planners.platco import PLatCo, PlatcoSettings, particle_noise
from benchmark.config import load_defaults

ROOT = Path(__file__).resolve().parent.parent
RISKY, SAFE = np.array([0.0, -0.7], np.float32), np.array([0.0, 1.0], np.float32)
HORIZON = 15


def bump(position: tf.Tensor, goal: np.ndarray, width: float) -> tf.Tensor:
    return tf.exp(-tf.reduce_sum(tf.square(position - goal), -1) / (2 * width**2))


class LotteryModel:
    """Feature [x, y, outcome]; x, y move by 0.15 a; the outcome keeps its mean but gains noise
    of std ``noise`` * bump(risky) at the position reached. Reward: the risky bump (width 0.5)
    times (2 - 12 sigmoid(10 (|outcome| - 0.77))), about +2 for |outcome| < 0.77 and -10 beyond,
    plus the safe bump (width 0.45) times 1."""

    feature_size = 3
    action_size = 2
    speed = 0.15

    def __init__(self, noise: float = 0.6):
        self.noise = noise

    def step(self, feature, action):
        return tf.concat([feature[..., :2] + self.speed * action, feature[..., 2:]], -1)

    def step_moments(self, feature, action):
        mean = self.step(feature, action)
        spread = self.noise * bump(mean[..., :2], RISKY, 0.5)
        return mean, tf.concat([tf.zeros_like(mean[..., :2]), spread[..., None]], -1)

    def reward(self, feature):
        position, outcome = feature[..., :2], feature[..., 2]
        lottery = 2.0 - 12.0 * tf.sigmoid(10.0 * (tf.abs(outcome) - 0.77))
        return bump(position, RISKY, 0.5) * lottery + bump(position, SAFE, 0.45)


class NaNLottery(LotteryModel):
    def step(self, feature, action):
        return feature * np.nan + tf.reduce_sum(action)


START = tf.zeros([1, 3])
PLATCO = dict(optimization_steps=50, dyn_threshold=1e-2, act_threshold=1e-2)  # benchmark/methods/platco.yaml


def final_position(model, actions: np.ndarray) -> np.ndarray:
    features, _ = rollout(model, START, tf.constant(np.clip(actions, -1.0, 1.0)[None], tf.float32))
    return features[0, -1, :2].numpy()


def stochastic_return(model: LotteryModel, actions: np.ndarray, samples: int = 4000) -> float:
    """Monte-Carlo mean return of ``actions`` under the noisy model (independent of the planner)."""
    rng = np.random.default_rng(123)
    feature = tf.zeros([samples, 3])
    total = np.zeros(samples)
    for action in np.clip(actions, -1.0, 1.0):
        action = tf.constant(np.tile(action, (samples, 1)), tf.float32)
        mean, std = model.step_moments(feature, action)
        feature = mean + std * rng.normal(size=(samples, 3))
        feature = tf.cast(feature, tf.float32)
        total += model.reward(feature).numpy()
    return float(total.mean())


def nearer_goal(position: np.ndarray) -> str:
    return "risky" if np.linalg.norm(position - RISKY) < np.linalg.norm(position - SAFE) else "safe"


def test_platco_takes_the_safe_goal_where_risk_neutral_latco_takes_the_lottery():
    model = LotteryModel()
    latco = make(LatCo, planning_horizon=HORIZON, **PLATCO)
    platco = make(PLatCo, planning_horizon=HORIZON, n_particles=20, **PLATCO)
    for _ in range(2):  # two plans each, different seeds; one traced function per planner
        risk_neutral, careful = latco.plan(model, START), platco.plan(model, START)
        assert nearer_goal(final_position(model, risk_neutral.actions)) == "risky"
        assert nearer_goal(final_position(model, careful.actions)) == "safe", final_position(model, careful.actions)
        # LatCo is right about the mean model and wrong about the real (noisy) one.
        assert risk_neutral.diagnostics["predicted_return"] > careful.diagnostics["predicted_return"]
        neutral_value, careful_value = stochastic_return(model, risk_neutral.actions), stochastic_return(
            model, careful.actions)
        assert careful_value > 5.0 and careful_value > neutral_value + 5.0, (careful_value, neutral_value)
        # The planner's own estimate uses n_particles = 20 rollouts: a standard error of about 1.
        assert careful.diagnostics["expected_return"] == pytest.approx(careful_value, abs=3.0)
        assert careful.diagnostics["dynamics_violation"] < 0.05
        assert careful.actions.shape == (HORIZON, 2) and np.all(np.isfinite(careful.actions))
        for name in ("dynamics_violation", "lambda_mean", "predicted_reward"):
            assert careful.curves[name].shape == (50,) and np.all(np.isfinite(careful.curves[name]))
        assert careful.diagnostics["iterations"] == 50 and careful.diagnostics["nonfinite_actions"] == 0
        assert careful.features.shape == (HORIZON + 1, 3)


def test_platco_without_transition_noise_takes_the_lottery_like_latco():
    """The control: with zero transition noise the spread is what made PLatCo go safe, not its optimiser."""
    model = LotteryModel(noise=0.0)
    result = make(PLatCo, planning_horizon=HORIZON, n_particles=20, **PLATCO).plan(model, START)
    assert nearer_goal(final_position(model, result.actions)) == "risky"
    assert result.diagnostics["std_mean"] < 1e-3  # nothing to spread: the beliefs stay points
    assert result.diagnostics["expected_return"] > 15.0


def test_linearised_moment_jacobian_is_close_to_differentiating_every_particle():
    model = LotteryModel()
    rng = np.random.default_rng(0)
    pairs, particles = 4, 50
    x = rng.normal(size=(1, pairs + 1, 8)).astype(np.float32)
    x[..., 3:5], x[..., 5], x[..., 6:] = 1e-3, 0.3, 1.5 * x[..., 6:]
    eps, eta = particle_noise([pairs, particles, 3], tf.constant([1, 2]))
    xi = tf.random.stateless_normal([pairs, 3], seed=[5, 6])
    lam, nu = tf.constant([[2.0, 3.0, 1.0, 5.0]]), tf.ones([1, pairs])
    blocks = {}
    for exact in (True, False):
        planner = make(PLatCo, planning_horizon=pairs, exact_jacobian=exact, n_particles=particles)
        blocks[exact] = [t.numpy() for t in planner._pair_jacobians(model, tf.constant(x), eps, eta, xi, lam, nu)]
    (res_e, cur_e, nxt_e), (res_l, cur_l, nxt_l) = blocks[True], blocks[False]
    np.testing.assert_allclose(res_l, res_e, atol=1e-6)
    np.testing.assert_allclose(nxt_l, nxt_e, atol=1e-5)
    assert np.linalg.norm(cur_l - cur_e) < 0.1 * np.linalg.norm(cur_e)
    # The noise is standardised and decorrelated across particles, dimension by dimension.
    assert np.allclose(np.mean(eps.numpy(), 1), 0, atol=1e-5) and np.allclose(np.std(eta.numpy(), 1), 1, atol=1e-4)
    assert np.allclose(np.mean(eps.numpy() * eta.numpy(), 1), 0, atol=1e-5)


class ImagePointModel:
    """f' = f + 0.2 a in 2-D; reward a Gaussian bump (width 0.5) at (1, -0.5). Images are
    linear in the feature: horizontal and vertical ramps of amplitude 0.2 (64x64x3, inside
    [-0.5, 0.5] for |f| < 2.5); ``encode`` is the exact least-squares inverse."""

    feature_size = 2
    action_size = 2

    def __init__(self):
        ramp = np.linspace(-1.0, 1.0, 64, dtype=np.float32)
        horizontal = np.broadcast_to(ramp[None, :, None], (64, 64, 3))
        vertical = np.broadcast_to(ramp[:, None, None], (64, 64, 3))
        self.basis = tf.constant(0.2 * np.stack([horizontal, vertical]))  # [2, 64, 64, 3], orthogonal
        self.norms = tf.reduce_sum(tf.square(self.basis), [1, 2, 3])

    def step(self, feature, action):
        return feature + 0.2 * action

    def reward(self, feature):
        return tf.exp(-tf.reduce_sum(tf.square(feature - tf.constant([1.0, -0.5])), -1) / (2 * 0.5**2))

    def decode(self, feature):
        return tf.einsum("...f,fhwc->...hwc", feature, self.basis)

    def encode(self, image):
        return tf.einsum("...hwc,fhwc->...f", image, self.basis) / self.norms


class NaNImageModel(ImagePointModel):
    def step(self, feature, action):
        return feature * np.nan + action


def test_image_colloc_improves_its_plan_and_makes_the_images_consistent():
    model = ImagePointModel()
    start = tf.zeros([1, 2])
    planner = make(ImageColloc, planning_horizon=10, optimization_steps=1000, gd_lr=0.02, lam_lr=30.0)
    for _ in range(2):
        result = planner.plan(model, start)
        d = result.diagnostics
        assert d["predicted_return"] > d["initial_return"] + 2.0, d
        assert d["predicted_return"] > 4.0
        _, rewards = rollout(model, start, tf.constant(np.clip(result.actions, -1.0, 1.0)[None]))
        assert float(tf.reduce_sum(rewards)) == pytest.approx(d["predicted_return"], rel=1e-4)
        # Pixel MSE 1e-4 is a latent gap of about 0.09 per step for these ramps (0.0133 per unit^2).
        assert d["dynamics_violation"] < 1e-4 and result.curves["dynamics_violation"][0] > 1e-2
        assert result.actions.shape == (10, 2) and np.all(np.abs(result.actions) <= 1.05)
        assert result.curves["predicted_reward"].shape == (1000,)
        assert result.curves["lambda_mean"][-1] > result.curves["lambda_mean"][0]
        assert result.features.shape == (11, 2) and np.allclose(result.features[0], 0.0)
        assert d["nonfinite_actions"] == 0


@pytest.mark.parametrize("planner, model", [
    (make(PLatCo, planning_horizon=4, optimization_steps=3, n_particles=4), NaNLottery()),
    (make(ImageColloc, planning_horizon=4, optimization_steps=3), NaNImageModel()),
], ids=["platco", "image_colloc"])
def test_a_nan_model_gives_zero_actions_and_a_count(planner, model):
    result = planner.plan(model, tf.zeros([1, model.feature_size]))
    assert result.actions.shape == (4, 2) and np.all(result.actions == 0.0)
    assert result.diagnostics["nonfinite_actions"] == 8


def test_settings_read_the_suite_config():
    defaults = load_defaults()
    platco = {**defaults, **yaml.safe_load((ROOT / "benchmark/methods/platco.yaml").read_text())["config"],
              "planning_horizon": 20}
    s = PlatcoSettings.from_config(platco)
    assert (s.planning_horizon, s.optimization_steps, s.dyn_threshold, s.init_std, s.n_particles) == (
        20, 50, 1e-2, 1e-6, 50)
    latco = {**defaults, **yaml.safe_load((ROOT / "benchmark/methods/latco.yaml").read_text())["config"]}
    image = {**latco, **yaml.safe_load((ROOT / "benchmark/ablations/image_colloc.yaml").read_text())["overrides"]}
    c = ImageCollocSettings.from_config(image)
    assert (c.optimization_steps, c.gd_lr, c.lam_lr, c.planning_horizon) == (5000, 0.02, 30.0, 30)


def test_both_planners_run_on_a_tiny_rssm_through_its_protocol_extras():
    """RSSMLatentModel offers step_moments, encode and posterior; the planners use nothing else."""
    from agents.world_model import RSSMLatentModel, WorldModel, WorldModelSettings

    config = load_defaults()
    config.update(deter_size=8, stoch_size=4, hidden_size=8, num_units=8, cnn_depth=2)
    world = WorldModel(WorldModelSettings.from_config(config), 2)
    model = RSSMLatentModel(world)
    feature = tf.random.stateless_normal([3, 12], seed=[0, 1])
    action = tf.random.stateless_uniform([3, 2], seed=[0, 2], minval=-1.0, maxval=1.0)
    mean, std = model.step_moments(feature, action)
    np.testing.assert_allclose(mean.numpy(), model.step(feature, action).numpy(), atol=1e-6)
    assert np.all(std.numpy()[:, :4] >= 0.1) and np.all(std.numpy()[:, 4:] == 0.0)  # prior std; h is exact

    # A planned image's latent is what the agent's filter would infer from it.
    image = tf.random.stateless_uniform([3, 64, 64, 3], seed=[0, 3], minval=-0.5, maxval=0.5)
    state = {"stoch": feature[:, :4], "deter": feature[:, 4:], "mean": feature[:, :4], "std": tf.ones([3, 4])}
    posterior, _ = world.rssm.obs_step(state, action, world.encoder(image), sample=False)
    np.testing.assert_allclose(model.posterior(model.step(feature, action), model.encode(image)).numpy(),
                               world.rssm.mean_feature(posterior).numpy(), atol=1e-5)

    class WithoutStepJacobian:  # the same model, differentiated by autodiff instead
        feature_size, action_size = model.feature_size, model.action_size
        step, reward, step_moments = model.step, model.reward, model.step_moments

    x = tf.concat([feature[:, None], tf.fill([3, 1, 12], 0.2), action[:, None]], -1)  # [m, s, a], 3 pairs
    x = tf.reshape(tf.concat([x, x[:1] + 0.1], 0), [1, 4, 26])
    eps, eta = particle_noise([3, 5, 12], tf.constant([3, 4]))
    linearised = make(PLatCo, planning_horizon=3, n_particles=5)
    args = (tf.constant(x), eps, eta, tf.zeros([3, 12]), tf.ones([1, 3]), tf.ones([1, 3]))
    for analytic, autodiff in zip(linearised._pair_jacobians(model, *args),
                                  linearised._pair_jacobians(WithoutStepJacobian(), *args), strict=True):
        np.testing.assert_allclose(analytic.numpy(), autodiff.numpy(), atol=1e-5)

    for planner in (make(PLatCo, planning_horizon=3, optimization_steps=2, n_particles=4),
                    make(ImageColloc, planning_horizon=3, optimization_steps=3)):
        result = planner.plan(model, feature[:1])
        assert result.actions.shape == (3, 2) and np.all(np.isfinite(result.actions))
        assert result.diagnostics["nonfinite_actions"] == 0 and np.isfinite(result.diagnostics["predicted_return"])
        assert result.features.shape == (4, 12)
