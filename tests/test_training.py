"""The world model learns, checkpoints round-trip, and a killed run resumes where it stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, run_cli

from agents.world_model import RSSMLatentModel, WorldModel, WorldModelSettings
from benchmark.registry import Registry

CONFIG = Registry.load().resolve_config("mw_reach", "latco", "smoke")


def _batch(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (1, 1, 64, 64, 3))
    image = np.clip(base + rng.integers(-10, 10, (4, 8, 64, 64, 3)), 0, 255).astype(np.uint8)
    return {"image": image, "action": rng.uniform(-1, 1, (4, 8, 4)).astype(np.float32),
            "reward": rng.uniform(0, 1, (4, 8)).astype(np.float32)}


# -log N(x; mu, 1) summed over a 64x64x3 image has a floor of 0.5 log(2 pi) per pixel.
IMAGE_NLL_FLOOR = 64 * 64 * 3 * 0.5 * np.log(2 * np.pi)


def test_training_steps_lower_the_loss_on_a_fixed_batch():
    tf.random.set_seed(0)
    model = WorldModel(WorldModelSettings.from_config({**CONFIG, "model_lr": 3e-3}), 4)
    batch = _batch()
    first = model.train_batch(batch)
    for _ in range(60):
        last = model.train_batch(batch)
    reducible = first["model_loss"] - IMAGE_NLL_FLOOR
    assert first["model_loss"] - last["model_loss"] > 0.1 * reducible, (first, last)
    assert last["reward_nll"] < first["reward_nll"]


def test_kl_below_free_nats_costs_exactly_free_nats():
    model = WorldModel(WorldModelSettings.from_config({**CONFIG, "free_nats": 1000.0}), 4)
    metrics, _ = model.losses_and_states({k: tf.constant(v) for k, v in _batch().items()})
    assert float(metrics["kl"]) < 1000.0
    kl_term = float(metrics["model_loss"] - metrics["image_nll"] - metrics["reward_nll"])
    assert kl_term == pytest.approx(1000.0, rel=1e-5)


def test_checkpoint_restores_identical_predictions(tmp_path):
    tf.random.set_seed(1)
    trained = WorldModel(WorldModelSettings.from_config(CONFIG), 4)
    for seed in range(3):
        trained.train_batch(_batch(seed))
    trained.checkpoint().write(str(tmp_path / "model"))
    restored = WorldModel(WorldModelSettings.from_config(CONFIG), 4)
    restored.checkpoint().read(str(tmp_path / "model")).assert_existing_objects_matched()
    feature = tf.random.normal([5, trained.feature_size])
    action = tf.random.uniform([5, 4], -1, 1)
    for a, b in ((RSSMLatentModel(trained), RSSMLatentModel(restored)),):
        np.testing.assert_array_equal(a.step(feature, action).numpy(), b.step(feature, action).numpy())
        np.testing.assert_array_equal(a.reward(feature).numpy(), b.reward(feature).numpy())
    assert int(restored.optimizer_.iterations) == 3
    # Training continues identically from the restored optimiser state.
    np.testing.assert_allclose(trained.train_batch(_batch(9))["model_loss"],
                               restored.train_batch(_batch(9))["model_loss"], rtol=1e-5)


def test_bfloat16_precision_learns_and_its_checkpoint_loads_in_float32(tmp_path):
    """mixed_bfloat16 computes in 16 bits but keeps float32 variables: same loss, same checkpoint."""
    tf.random.set_seed(0)
    mixed = WorldModel(WorldModelSettings.from_config({**CONFIG, "model_lr": 3e-3, "precision": "mixed_bfloat16"}), 4)
    assert mixed.encoder.convs[0].compute_dtype == "bfloat16" and mixed.rssm.cell.compute_dtype == "bfloat16"
    assert all(v.dtype == tf.float32 for v in mixed.trainable_variables)
    batch = _batch()
    first = mixed.train_batch(batch)
    for _ in range(60):
        last = mixed.train_batch(batch)
    assert first["model_loss"] - last["model_loss"] > 0.1 * (first["model_loss"] - IMAGE_NLL_FLOOR), (first, last)
    mixed.checkpoint().write(str(tmp_path / "model"))
    exact = WorldModel(WorldModelSettings.from_config(CONFIG), 4)
    exact.checkpoint().read(str(tmp_path / "model")).assert_existing_objects_matched()
    tensors = {k: tf.constant(v) for k, v in batch.items()}
    mixed_loss = float(mixed.losses_and_states(tensors)[0]["image_nll"])
    exact_loss = float(exact.losses_and_states(tensors)[0]["image_nll"])
    assert exact_loss == pytest.approx(mixed_loss, rel=1e-2)
    feature = tf.random.normal([64, exact.feature_size])
    action = tf.random.uniform([64, 4], -1, 1)
    fast, slow = RSSMLatentModel(mixed), RSSMLatentModel(exact)
    assert fast.step(feature, action).dtype == tf.float32 and fast.reward(feature).dtype == tf.float32
    np.testing.assert_allclose(fast.step(feature, action).numpy(), slow.step(feature, action).numpy(), atol=0.05)


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_fused_returns_equal_the_summed_rewards_of_a_rollout(precision):
    from agents.planners.base import rollout

    model = RSSMLatentModel(WorldModel(WorldModelSettings.from_config({**CONFIG, "precision": precision}), 4))
    feature = tf.random.normal([256, model.feature_size])
    actions = tf.random.uniform([256, 12, 4], -1, 1)
    _, rewards = rollout(model, feature, actions)
    np.testing.assert_allclose(model.returns(feature, actions).numpy(), tf.reduce_sum(rewards, 1).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_bfloat16_returns_rank_action_sequences_as_float32_does():
    """What CEM needs from the faster precision: the same samples among the best."""
    exact = WorldModel(WorldModelSettings.from_config({**CONFIG, "num_units": 64, "deter_size": 64, "hidden_size": 64}), 4)
    mixed = WorldModel(WorldModelSettings.from_config({**CONFIG, "num_units": 64, "deter_size": 64, "hidden_size": 64,
                                                       "precision": "mixed_bfloat16"}), 4)
    mixed.set_weights(exact.get_weights())
    feature = tf.random.stateless_normal([2000, exact.feature_size], seed=[0, 1])
    actions = tf.random.stateless_uniform([2000, 30, 4], seed=[0, 2], minval=-1, maxval=1)
    slow = RSSMLatentModel(exact).returns(feature, actions).numpy()
    fast = RSSMLatentModel(mixed).returns(feature, actions).numpy()
    assert np.corrcoef(slow, fast)[0, 1] > 0.999
    top_slow, top_fast = set(np.argsort(slow)[-100:]), set(np.argsort(fast)[-100:])
    assert len(top_slow & top_fast) >= 90, len(top_slow & top_fast)


def test_a_killed_run_resumes_from_its_checkpoint_without_duplicated_steps(database, results_dir):
    args = ["run", "--suite", "smoke", "--tasks", "pm_lottery", "--methods", "latco",
            "steps=1200", "checkpoint_every=150", "eval_every=100000"]
    env = {**os.environ, "LATCO_MONGO_DB": database.db_name}
    run_dir = results_dir / "runs" / "smoke/pm_lottery/latco/seed0/smoke"
    process = subprocess.Popen([sys.executable, str(ROOT / "run_suite.py"), "--results", str(results_dir), *args],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 300
    while True:
        state = run_dir / "checkpoint" / "state.json"
        if state.exists() and json.loads(state.read_text())["step"] >= 300:
            break
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    [killed] = list(database.database().runs.find())
    assert killed["status"] == "RUNNING"  # a kill -9 leaves no chance to record anything else

    again = run_cli(*args, results=results_dir, db_name=database.db_name)
    assert again.returncode == 0, again.stderr[-2000:]
    [run] = list(database.database().runs.find())
    assert run["status"] == "COMPLETED" and run["_id"] == killed["_id"], again.stdout[-2000:]
    assert run["info"]["resumed_from_step"] >= 300
    steps = database.database().metrics.find_one({"run_id": run["_id"], "name": "train/success"})["steps"]
    assert steps == list(range(50, 1201, 50)), steps
    episodes = sorted((run_dir / "episodes").glob("*.npz"))
    assert [int(p.name.split("-")[0]) for p in episodes] == list(range(24))

    # Evaluation from the final checkpoint is its own run, linked to this one.
    evaluation = run_cli("eval", *args[1:], "--episodes", "2", results=results_dir, db_name=database.db_name)
    assert evaluation.returncode == 0, evaluation.stderr[-2000:]
    [eval_run] = list(database.database().runs.find({"config.evaluation_of": run["_id"]}))
    assert eval_run["status"] == "COMPLETED" and eval_run["config"]["run_key"].endswith("/eval")
    eval_success = database.database().metrics.find_one({"run_id": eval_run["_id"], "name": "eval/success"})
    assert eval_success["steps"] == [0, 1]
    assert sorted(a["name"] for a in eval_run["artifacts"]) == ["eval_episode000.gif", "eval_episode001.gif"]
    skipped = run_cli(*args, results=results_dir, db_name=database.db_name)
    assert "1 already completed, 0 to run" in skipped.stdout, "an evaluation must not count as a training run"


def test_offline_data_is_generated_once_and_pretrains_the_model(database, results_dir, tmp_path):
    offline = tmp_path / "offline_thermos"
    args = ["run", "--suite", "paper", "--tasks", "mw_thermos", "--methods", "latco", "--seeds", "0",
            "--profile", "smoke", f"offline_dir={offline}", "offline_episodes=2", "steps=50", "prefill=0"]
    result = run_cli(*args, results=results_dir, db_name=database.db_name)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list(offline.glob("*.npz"))) == 2, "the expert episodes are generated into offline_dir"
    [run] = list(database.database().runs.find())
    model_loss = database.database().metrics.find_one({"run_id": run["_id"], "name": "train/model_loss"})
    assert model_loss["steps"][0] == 0, "offline pre-training happens before the first environment step"


def test_analytic_step_jacobian_equals_automatic_differentiation():
    model = RSSMLatentModel(WorldModel(WorldModelSettings.from_config(CONFIG), 4))
    feature = tf.random.normal([3, model.feature_size])
    action = tf.random.uniform([3, 4], -1.5, 1.5)
    joint = tf.concat([feature, action], -1)
    with tf.GradientTape() as tape:
        tape.watch(joint)
        predicted = model.step(joint[:, : model.feature_size], joint[:, model.feature_size:])
    automatic = tape.batch_jacobian(predicted, joint)
    np.testing.assert_allclose(model.step_jacobian(feature, action).numpy(), automatic.numpy(), atol=1e-5)


def test_decoder_first_layer_as_matrix_product_equals_the_transposed_convolution():
    from agents.networks import ConvDecoder

    decoder = ConvDecoder(4)
    feature = tf.random.normal([3, 20])
    fast = decoder(feature)
    x = tf.reshape(decoder.dense(feature), [-1, 1, 1, 32 * 4])
    for layer in decoder.deconvs:
        x = layer(x)
    assert fast.shape == (3, 64, 64, 3)
    np.testing.assert_allclose(fast.numpy(), x.numpy(), atol=1e-5)


@pytest.mark.parametrize("method", ["latco", "planet", "mppi", "shooting_gd", "shooting_gn", "platco",
                                    "image_colloc", "latco_first_order"])
def test_every_planner_plans_on_a_bfloat16_world_model(method):
    """Planners see float32 features whatever the precision, so each one works under bfloat16."""
    from agents.registry import build_planner

    config = {**Registry.load().resolve_config("mw_reach", method, "smoke"), "precision": "mixed_bfloat16",
              "planning_horizon": 4, "optimization_steps": 3, "cem_samples": 64, "n_particles": 4}
    model = RSSMLatentModel(WorldModel(WorldModelSettings.from_config(config), 4))
    result = build_planner(config).plan(model, tf.random.normal([1, model.feature_size]))
    assert result.actions.shape == (4, 4) and result.actions.dtype == np.float32
    assert result.diagnostics["nonfinite_actions"] == 0 and np.isfinite(result.diagnostics["predicted_return"])
