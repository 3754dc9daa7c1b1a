"""The original's behaviour where ours used to differ (docs/protocol.md#rewards, docs/algorithm.md#from-plan-to-action), item by item.

Each test runs the real world model, agent or planner (small analytic latent models for the
planners, a tiny RSSM where the recurrent state matters) and asserts the original's rule.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from test_planners import START, PointModel, make
from test_platco_image_colloc import ImagePointModel

from agents.model_based import ModelBasedAgent
from agents.networks import preprocess
from agents.planners.base import PlanResult, adam_update
from agents.planners.image_colloc import ImageColloc
from agents.planners.latco import LatCo
from agents.planners.platco import PLatCo, particle_noise
from agents.planners.shooting_gd import GradientShooting
from agents.planners.shooting_gn import GaussNewtonShooting
from agents.world_model import REWARD_EMA_RATE, Filter, RSSMLatentModel, WorldModel, WorldModelSettings
from benchmark.evaluation import apply_eval_protocol
from benchmark.registry import Registry

SMOKE = Registry.load().resolve_config("mw_reach", "latco", "smoke")
TINY = {**SMOKE, "deter_size": 8, "stoch_size": 4, "hidden_size": 8, "num_units": 8, "cnn_depth": 2}


def _batch(rewards: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    batch, length = rewards.shape
    return {"image": rng.integers(0, 255, (batch, length, 64, 64, 3)).astype(np.uint8),
            "action": rng.uniform(-1, 1, (batch, length, 4)).astype(np.float32),
            "reward": rewards.astype(np.float32)}


# --- 7.2 dense reward normalisation -----------------------------------------------------------

def test_reward_norm_defaults_to_the_original_per_task_family():
    assert WorldModelSettings.from_config({**SMOKE, "sparse_reward": False}).normalise_reward  # dense MetaWorld
    assert not WorldModelSettings.from_config(SMOKE).normalise_reward  # sparse MetaWorld
    assert not WorldModelSettings.from_config({**SMOKE, "env_family": "dmc", "sparse_reward": False}).normalise_reward
    assert WorldModelSettings.from_config({**SMOKE, "reward_norm": "ema"}).normalise_reward
    assert not WorldModelSettings.from_config({**SMOKE, "sparse_reward": False, "reward_norm": "none"}).normalise_reward


def test_reward_head_learns_normalised_rewards_with_moving_statistics_that_survive_a_checkpoint(tmp_path):
    tf.random.set_seed(0)
    model = WorldModel(WorldModelSettings.from_config({**TINY, "sparse_reward": False}), 4)
    assert model.normalise_reward
    assert float(model.reward_mean) == 0.0 and float(model.reward_std) == 1.0
    first = np.array([[2.0, 4.0, 6.0], [8.0, 4.0, 0.0]])  # mean 4, std 2.58
    second = np.array([[10.0, 10.0, 10.0], [10.0, 10.0, 10.0]])  # mean 10, std 0
    mean, std = 0.0, 1.0
    for rewards in (first, second):
        # The loss of this batch uses the statistics of the batches before it.
        target = model.reward_target(tf.constant(rewards, tf.float32)).numpy()
        np.testing.assert_allclose(target, (rewards - mean) / std, rtol=1e-6)
        metrics = model.train_batch(_batch(rewards))
        mean = (1 - REWARD_EMA_RATE) * mean + REWARD_EMA_RATE * rewards.mean()
        std = (1 - REWARD_EMA_RATE) * std + REWARD_EMA_RATE * rewards.std()
        assert float(model.reward_mean) == pytest.approx(mean, rel=1e-6)
        assert float(model.reward_std) == pytest.approx(std, rel=1e-6)
        assert metrics["reward_ema_mean"] == pytest.approx(mean, rel=1e-6)
    assert mean == pytest.approx(0.01 * 4 * 0.99 + 0.1) and std == pytest.approx(0.99 * (0.99 + 0.01 * first.std()))

    model.checkpoint().write(str(tmp_path / "model"))
    restored = WorldModel(WorldModelSettings.from_config({**TINY, "sparse_reward": False}), 4)
    restored.checkpoint().read(str(tmp_path / "model")).assert_existing_objects_matched()
    assert float(restored.reward_mean) == float(model.reward_mean)
    assert float(restored.reward_std) == float(model.reward_std)


def test_without_normalisation_the_reward_head_learns_the_raw_reward():
    model = WorldModel(WorldModelSettings.from_config(TINY), 4)  # sparse MetaWorld: the original does not normalise
    model.train_batch(_batch(np.full((2, 3), 5.0)))
    assert float(model.reward_mean) == pytest.approx(0.05)  # tracked all the same
    rewards = tf.constant([[1.0, 0.0]])
    np.testing.assert_array_equal(model.reward_target(rewards).numpy(), rewards.numpy())


# --- 7.4 start state: a sample of the filtered posterior --------------------------------------

def _filtered_features(model: WorldModel, sample: bool, seed: int) -> np.ndarray:
    images = np.random.default_rng(5).integers(0, 255, (3, 64, 64, 3)).astype(np.uint8)
    filter_ = Filter(model, sample=sample, seed=seed)
    features = []
    for image in images:
        features.append(filter_.observe(image).numpy()[0])
        filter_.record_action(np.full(4, 0.5, np.float32))
    return np.stack(features)


def test_filter_samples_the_posterior_and_feeds_samples_forward_unless_told_to_use_means():
    tf.random.set_seed(0)
    model = WorldModel(WorldModelSettings.from_config(TINY), 4)
    stoch = model.rssm.stoch_size
    sampled, again, other = (_filtered_features(model, True, seed) for seed in (0, 0, 1))
    means, means_again = _filtered_features(model, False, 0), _filtered_features(model, False, 3)
    np.testing.assert_array_equal(sampled, again)  # a seed fixes the draws
    np.testing.assert_array_equal(means, means_again)  # the mean mode draws nothing
    assert not np.allclose(sampled[:, :stoch], other[:, :stoch], atol=1e-3)
    # The first posterior is the same distribution; the sample differs from its mean by about std >= 0.1.
    np.testing.assert_allclose(sampled[0, stoch:], means[0, stoch:], atol=1e-6)
    assert np.abs(sampled[0, :stoch] - means[0, :stoch]).max() > 0.05
    # The GRU state h after the first step was computed from the sampled z.
    assert not np.allclose(sampled[1, stoch:], means[1, stoch:], atol=1e-5)
    assert not WorldModelSettings.from_config({**TINY, "filter_sample": False}).filter_sample


# --- 7.4 executed action: noise before clipping -------------------------------------------------

class FixedPlanner:
    """A planner whose plan is the given action at every step (outside the box if asked)."""

    def __init__(self, value: float):
        self.value = value

    def plan(self, model, feature) -> PlanResult:
        return PlanResult(np.full([5, model.action_size], self.value, np.float32),
                          features=np.zeros([6, model.feature_size], np.float32))


def test_exploration_noise_is_added_to_the_plan_action_before_clipping():
    observation = {"image": np.zeros((64, 64, 3), np.uint8)}
    agent = ModelBasedAgent({**TINY, "expl_noise": 0.3}, 4, FixedPlanner(3.0))
    agent.trained = True
    training = np.stack([agent.act(observation, training=True) for _ in range(20)])
    # clip(3 + N(0, 0.3)) is 1 unless the noise is below -2 (7 sigma); noise after clipping
    # the plan (the old order) would put about half of the entries below 1.
    np.testing.assert_array_equal(training, 1.0)
    assert np.all(agent.act(observation, training=False) == 1.0)
    agent = ModelBasedAgent({**TINY, "expl_noise": 0.3}, 4, FixedPlanner(0.95))
    agent.trained = True
    noisy = np.stack([agent.act(observation, training=True) for _ in range(20)])
    assert np.all(np.abs(noisy) <= 1.0) and 0.2 < np.mean(noisy == 1.0) < 0.8


# --- evaluation protocols: the original eval.py's single-frame filtering --------------------------

class RecordingPlanner(FixedPlanner):
    """A FixedPlanner that records the feature [F] each plan starts from."""

    def __init__(self, value: float):
        super().__init__(value)
        self.starts: list[np.ndarray] = []

    def plan(self, model, feature) -> PlanResult:
        self.starts.append(feature.numpy()[0])
        return super().plan(model, feature)


def _one_posterior_step_from_zero(world: WorldModel, image: np.ndarray) -> np.ndarray:
    """The original's get_init_feat(obs) without a state: posterior of the zero state, zero action."""
    rssm = world.rssm
    embed = world.encoder(preprocess(tf.constant(image[None])))
    posterior, _ = rssm.obs_step(rssm.initial(1), tf.zeros([1, world.action_size]), embed, sample=False)
    return rssm.feature(posterior).numpy()[0]


def _evaluated(protocol: str, images: np.ndarray) -> tuple[RecordingPlanner, np.ndarray, ModelBasedAgent]:
    """An agent evaluated under ``protocol`` over one episode of ``images``: its planner, actions and itself."""
    planner = RecordingPlanner(3.0)  # outside the box
    # Means, not samples, so the filtered feature can be compared exactly; plans every 3 steps.
    agent = ModelBasedAgent({**TINY, "filter_sample": False, "mpc_steps": 3}, 4, planner)
    agent.trained = True
    apply_eval_protocol(agent, protocol)
    agent.reset()
    actions = np.stack([agent.act({"image": image}, training=False) for image in images])
    return planner, actions, agent


def test_single_frame_evaluation_plans_from_one_posterior_step_of_the_zero_state_and_forgets_history():
    images = np.random.default_rng(3).integers(0, 255, (7, 64, 64, 3)).astype(np.uint8)
    planner, actions, agent = _evaluated("single_frame", images)
    assert len(planner.starts) == 3  # steps 0, 3 and 6
    for start, step in zip(planner.starts, (0, 3, 6), strict=True):
        np.testing.assert_allclose(start, _one_posterior_step_from_zero(agent.model, images[step]), atol=1e-6)
    # Our default filters the episode: the first plan starts from the same state, later ones do not.
    episode_planner, _, _ = _evaluated("episode", images)
    np.testing.assert_allclose(episode_planner.starts[0], planner.starts[0], atol=1e-6)
    assert not np.allclose(episode_planner.starts[1], planner.starts[1], atol=1e-3)


def test_single_frame_evaluation_executes_the_plan_unclipped_and_the_default_clips():
    images = np.zeros((4, 64, 64, 3), np.uint8)
    _, unclipped, _ = _evaluated("single_frame", images)
    _, clipped, _ = _evaluated("episode", images)
    np.testing.assert_array_equal(unclipped, 3.0)
    np.testing.assert_array_equal(clipped, 1.0)


# --- 7.4 shooting planners -----------------------------------------------------------------------

def test_shooting_gd_starts_from_unit_normal_penalises_squares_and_clips_every_step():
    model = PointModel()
    start = make(GradientShooting, planning_horizon=10, optimization_steps=0).plan(model, START).actions  # the start
    assert np.abs(start).max() > 1.5 and 0.6 < start.std() < 1.5
    planner = make(GradientShooting, planning_horizon=10, optimization_steps=3, lam_lr=2.0, act_loss_scale=3.0)
    assert np.all(np.abs(planner.plan(model, START).actions) <= 1.0)
    actions = tf.constant([[[2.0, 0.5], [-1.5, 1.0]]])
    lam = tf.constant([[[1.0, 7.0], [2.0, 1.0]]])
    loss, predicted, violation = planner.objective(model, START, actions, lam)
    np.testing.assert_allclose(violation.numpy(), [[[3.0, 0.0], [1.25, 0.0]]])  # max(a^2 - 1, 0)
    assert float(loss) == pytest.approx(-float(predicted) + 3.0 * (3.0 + 2.0 * 1.25))


def test_shooting_gn_has_one_residual_per_step_and_is_never_clipped_while_optimising():
    model = PointModel()
    planner = make(GaussNewtonShooting, planning_horizon=4, optimization_steps=1, gn_damping=1e-2, gd_lr=0.1)
    first = planner.plan(model, START).actions  # the first iterate, from N(0, 1)
    assert np.abs(first).max() > 1.2
    flat = tf.constant([2.0, 0.5, -1.5, 1.0, 0.0, 0.0, 0.3, -3.0])
    lam = tf.constant([[4.0, 1.0], [1.0, 9.0], [1.0, 1.0], [1.0, 16.0]])
    residual, rewards, _ = planner.residuals(model, START, flat, lam)
    bound = np.array([2.0 * 1.0, 0.5, 0.0, 4.0 * 2.0])  # sum_a sqrt(lam) max(|a| - 1, 0)
    np.testing.assert_allclose(residual.numpy(), np.log1p(np.exp(-rewards.numpy())) + bound, rtol=1e-6)
    # Still plans: the penalty pulls the actions into the box over iterations.
    result = make(GaussNewtonShooting, planning_horizon=10, optimization_steps=15, gn_damping=1e-2, gd_lr=0.5
                  ).plan(model, START)
    assert result.curves["predicted_return"][-1] > result.curves["predicted_return"][0] + 0.5


# --- planner Adam: Keras's epsilon-hat form ----------------------------------------------------

def test_planner_adam_equals_keras_adam_over_100_steps():
    """agents.planners.base.adam_update against Keras's own Adam (epsilon 1e-7).

    Keras 3.15 (TensorFlow 2.21's tf.keras) computes, as TF 2.2's Keras did for the original,
    alpha = lr sqrt(1 - beta2^t) / (1 - beta1^t) and var -= alpha m / (sqrt(v) + epsilon). The
    toy objective's gradients span 1 down to ~1e-9, where the epsilon form decides the step.
    """
    import keras

    scales = tf.constant([1.0, 1e-3, 1e-6, 1e-9])
    target = tf.constant([0.5, -2.0, 3.0, 1.0])

    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(scales * (tf.square(x - target) + 0.1 * tf.sin(3.0 * x)))
        return tape.gradient(loss, x)

    start = tf.constant([2.0, 1.0, -1.0, 0.0])
    variable, optimizer = keras.Variable(start), keras.optimizers.Adam(learning_rate=0.05, epsilon=1e-7)
    x, m, v = start, tf.zeros(4), tf.zeros(4)
    for step in range(1, 101):
        optimizer.apply_gradients([(gradient(tf.convert_to_tensor(variable)), variable)])
        update, m, v = adam_update(gradient(x), m, v, tf.constant(float(step)), 0.05)
        x = x - update
        np.testing.assert_allclose(x.numpy(), variable.numpy(), atol=1e-6, rtol=0)
    assert abs(float(x[3] - start[3])) > 1e-3, "even the flattest coordinate moves"


# --- 7.4 first-order collocation -------------------------------------------------------------------

FIRST_ORDER = dict(latco_solver="adam", gd_lr=0.05, lm_update_every=5, lam_lr=1.5, nu_lr=1.5, dyn_loss_scale=1e4)


def test_first_order_latco_keeps_f1_at_the_observation_and_uses_the_originals_lagrangian():
    model = PointModel()
    start = tf.constant([[0.3, -0.2]])
    planner = make(LatCo, planning_horizon=6, optimization_steps=40, **FIRST_ORDER)
    result = planner.plan(model, start)
    np.testing.assert_array_equal(result.features[0], start.numpy()[0])  # exactly, not approximately
    x = tf.constant(np.random.default_rng(0).normal(size=(1, 3, 4)) * 1.5, tf.float32)  # x_1 != start
    lam, nu = tf.constant([[2.0, 3.0]]), tf.constant([[[1.0, 4.0], [5.0, 1.0]]])
    loss, gaps, violation = planner._first_order_loss(model, x, start, lam, nu)
    features = np.concatenate([start.numpy()[:, None], x.numpy()[:, 1:, :2]], 1)
    actions = x.numpy()[:, :2, 2:]
    expected_gaps = np.sum((features[:, :-1] + 0.1 * actions - features[:, 1:]) ** 2, -1)
    expected_violation = np.maximum(actions**2 - 1, 0)
    reward = model.reward(tf.constant(features[:, 1:])).numpy().sum()
    np.testing.assert_allclose(gaps.numpy(), expected_gaps, rtol=1e-5)
    np.testing.assert_allclose(violation.numpy(), expected_violation, rtol=1e-6)
    expected = -reward + 1e4 * np.sum(lam.numpy() * expected_gaps) + np.sum(nu.numpy() * expected_violation)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_first_order_latco_with_the_ablation_settings_still_climbs_the_reward():
    """dyn_loss_scale 1e4 with no normaliser: the reward still counts (it weighed ~1e-8 before)."""
    model = PointModel()
    start, result = (make(LatCo, planning_horizon=10, optimization_steps=n, **FIRST_ORDER).plan(model, START)
                     .diagnostics for n in (0, 300))
    # Measured: 1.97 -> 3.09 (the plan starts from the same draw); dynamics then hold to 1e-5.
    assert result["predicted_return"] > start["predicted_return"] + 0.8, (start, result)
    assert result["dynamics_violation"] < 1e-3 < start["dynamics_violation"]
    assert result["lambda_mean"] > 1.0 and result["nu_mean"] > 1.0


# --- 7.4 image collocation: truncated backpropagation ------------------------------------------

def test_image_colloc_truncates_backpropagation_through_the_recurrent_state():
    tf.random.set_seed(0)
    world = WorldModel(WorldModelSettings.from_config(TINY), 2)
    model = RSSMLatentModel(world)
    observed = tf.random.stateless_normal([1, 12], seed=[0, 1])
    images = tf.random.stateless_uniform([1, 3, 64, 64, 3], seed=[0, 2], minval=-0.5, maxval=0.5)
    actions = tf.random.stateless_uniform([1, 3, 2], seed=[0, 3], minval=-1.0, maxval=1.0)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([images, actions])
        latents, _ = ImageColloc.unroll(model, observed, images, actions)
        last = tf.reduce_sum(model.reward(latents[:, -1]))
    by_image, by_action = tape.gradient(last, [images, actions])
    # The last latent sees its own image and the action into it, nothing earlier in the chain.
    assert np.abs(by_image[0, -1].numpy()).max() > 0 and np.abs(by_action[0, -1].numpy()).max() > 0
    np.testing.assert_array_equal(by_image[0, :-1].numpy(), 0.0)
    np.testing.assert_array_equal(by_action[0, :-1].numpy(), 0.0)
    result = make(ImageColloc, planning_horizon=3, optimization_steps=2).plan(model, observed)
    assert np.all(np.isfinite(result.actions)) and result.features.shape == (4, 12)


# --- image collocation: start, multipliers, penalty and reward as the original's ---------------

def test_image_colloc_starts_from_unit_normal_pixels():
    result = make(ImageColloc, planning_horizon=10, optimization_steps=1).plan(ImagePointModel(), START)
    # Pixel MSE against the (near-zero) predicted images: ~1 for N(0, 1) pixels. Decoded N(0, I)
    # latents (the old start) are ramps of amplitude 0.2 per unit, about 0.05 from their prediction.
    assert 0.95 < result.curves["dynamics_violation"][0] < 1.05


def test_image_colloc_has_one_multiplier_per_step_and_action_dimension():
    """After one dual step nu_{t,a} = init_nu + nu_lr max(a_{t,a}^2 - 1, 0): its mean is the
    violation's mean over (t, a), where one nu per step would sum over a first (A = 2 times more)."""
    result = make(ImageColloc, planning_horizon=10, optimization_steps=1, nu_lr=100.0).plan(ImagePointModel(), START)
    per_step = result.curves["action_violation"][0]  # mean over t of sum over a
    assert per_step > 0.1  # N(0, 1) actions: about a third outside the box
    assert result.curves["nu_mean"][0] == pytest.approx(1.0 + 100.0 * per_step / 2, rel=1e-5)


def test_image_colloc_objective_penalises_unsquared_bounds_and_scores_all_h_plus_1_latents():
    model, horizon = ImagePointModel(), 3
    planner = make(ImageColloc, planning_horizon=horizon, dyn_loss_scale=2.0, act_loss_scale=0.5)
    rng = np.random.default_rng(0)
    observed = tf.constant([[1.0, -0.5]])  # at the reward's peak: reward(f_1) = 1
    images = tf.constant(rng.normal(0.0, 0.1, (1, horizon, 64, 64, 3)), tf.float32)
    actions = tf.constant([[[2.0, 0.5], [-1.5, 1.0], [0.3, -3.0]]])
    lam = tf.constant([[2.0, 3.0, 5.0]])
    nu = tf.constant([[[1.0, 4.0], [9.0, 1.0], [1.0, 16.0]]])
    loss, v_dyn, bounds, rewards, _ = planner.objective(model, observed, images, actions, lam, nu)

    latents = np.concatenate([observed.numpy()[:, None], model.encode(images).numpy()], 1)
    predicted = model.decode(tf.constant(latents[:, :-1] + 0.2 * actions.numpy())).numpy()
    expected_dyn = np.mean((images.numpy() - predicted) ** 2, axis=(2, 3, 4))
    expected_bounds = np.maximum(actions.numpy() ** 2 - 1.0, 0.0)  # [[3, 0], [1.25, 0], [0, 8]]
    expected_rewards = model.reward(tf.constant(latents)).numpy()
    np.testing.assert_allclose(v_dyn.numpy(), expected_dyn, rtol=1e-5)
    np.testing.assert_allclose(bounds.numpy(), expected_bounds, rtol=1e-6)
    assert rewards.shape == (1, horizon + 1) and float(rewards[0, 0]) == pytest.approx(1.0)
    np.testing.assert_allclose(rewards.numpy(), expected_rewards, rtol=1e-5)
    normaliser = 1.0 / (np.mean(np.sqrt(lam.numpy())) * 2.0 + np.mean(np.sqrt(nu.numpy())) * 0.5 + 1.0)
    expected = normaliser**2 * (np.sum(lam.numpy() * 4.0 * expected_dyn) + np.sum(nu.numpy() * 0.25 * expected_bounds)
                                + np.sum(np.log1p(np.exp(-expected_rewards)) ** 2))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


# --- 7.4 probabilistic LatCo: mean gap for the duals, std residual moves only s_{t+1} ------------

class NoisyPoint(PointModel):
    """PointModel with transition noise that grows with the distance from the origin."""

    def step_moments(self, feature, action):
        mean = self.step(feature, action)
        return mean, 0.1 + 0.2 * tf.abs(mean)


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "linearised"])
def test_platco_std_residual_moves_only_the_next_std_and_the_duals_see_only_the_mean_gap(exact):
    model, pairs, size = NoisyPoint(), 3, 2
    planner = make(PLatCo, planning_horizon=pairs, n_particles=8, exact_jacobian=exact)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(1, pairs + 1, 2 * size + 2)), tf.float32)
    eps, eta = particle_noise([pairs, 8, size], tf.constant([1, 2]))
    xi = tf.zeros([pairs, size])
    residual, jac_current, jac_next = planner._pair_jacobians(model, x, eps, eta, xi, tf.ones([1, pairs]),
                                                              tf.ones([1, pairs]))
    std_rows = slice(size, 2 * size)
    np.testing.assert_array_equal(jac_current[0, :, std_rows].numpy(), 0.0)  # nothing of x_t
    np.testing.assert_array_equal(jac_current[0, :, :size, size:2 * size].numpy(), 0.0)  # means ignore s_t
    next_std = jac_next[0, :, std_rows].numpy()
    assert np.all(np.diagonal(next_std[..., std_rows], axis1=-2, axis2=-1) != 0)  # d |s_next| / d s_next
    np.testing.assert_array_equal(np.delete(next_std, np.r_[std_rows], axis=-1), 0.0)

    # Means that follow the particle moments exactly but stds that do not: no dual violation.
    rows = [x[0, 0]]
    for t in range(pairs):
        mean, std = planner._particle_moments(model, rows[-1][None], eps[t:t + 1], eta[t:t + 1])
        rows.append(tf.concat([mean[0], 3.0 * std[0] + 1.0, x[0, t + 1, 2 * size:]], -1))
    matched = tf.stack(rows)[None]
    v_dyn, _ = planner._violations(model, matched, eps, eta)
    np.testing.assert_allclose(v_dyn.numpy(), 0.0, atol=1e-10)
    residual, _, _ = planner._pair_jacobians(model, matched, eps, eta, xi, tf.ones([1, pairs]), tf.ones([1, pairs]))
    assert np.abs(residual[0, :, std_rows].numpy()).min() > 0.1
