"""Learning diagnostics: open-loop prediction error, reward-head accuracy, planned vs achieved."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from agents.diagnostics import planned_vs_achieved, world_model_diagnostics
from agents.world_model import WorldModel, WorldModelSettings
from benchmark.registry import Registry

CONFIG = Registry.load().resolve_config("mw_reach", "latco", "smoke")


def _episode(length: int = 24, seed: int = 0) -> dict[str, np.ndarray]:
    """A moving square on a grey background, with reward 1 on the last four steps."""
    rng = np.random.default_rng(seed)
    images = np.full((length + 1, 64, 64, 3), 100, np.uint8)
    for t in range(length + 1):
        images[t, 20:30, 2 * t: 2 * t + 10] = 250
    reward = np.zeros(length + 1, np.float32)
    reward[-4:] = 1.0
    return {"image": images, "action": rng.uniform(-1, 1, (length + 1, 4)).astype(np.float32),
            "reward": reward, "success": reward > 0}


def test_open_loop_error_is_larger_than_reconstruction_and_shrinks_with_training():
    tf.random.set_seed(0)
    model = WorldModel(WorldModelSettings.from_config({**CONFIG, "model_lr": 3e-3}), 4)
    episode = _episode()
    before = world_model_diagnostics(model, episode, horizon=5)
    assert set(before) >= {"diag/recon_image_mse", "diag/openloop_image_mse", "diag/openloop_image_mse_last",
                           "diag/openloop_reward_mae", "diag/reward_acc_rewarding",
                           "diag/reward_acc_nonrewarding", "diag/rewarding_steps"}
    assert before["diag/rewarding_steps"] == 4
    batch = {k: np.stack([v[start:start + 8] for start in (0, 6, 12, 17)]) for k, v in episode.items()
             if k != "success"}
    for _ in range(80):
        model.train_batch(batch)
    after = world_model_diagnostics(model, episode, horizon=5)
    assert after["diag/recon_image_mse"] < before["diag/recon_image_mse"]
    assert after["diag/openloop_image_mse"] < before["diag/openloop_image_mse"]
    for name, value in after.items():
        assert np.isfinite(value), name
        if name.startswith("diag/reward_acc"):
            assert 0.0 <= value <= 1.0


def test_reward_accuracy_is_absent_for_dense_rewards():
    model = WorldModel(WorldModelSettings.from_config(CONFIG), 4)
    episode = _episode()
    episode["reward"] = np.linspace(0, 3, len(episode["reward"])).astype(np.float32)
    metrics = world_model_diagnostics(model, episode, horizon=5)
    assert not any(name.startswith("diag/reward_acc") for name in metrics)
    assert "diag/openloop_reward_mae" in metrics


def test_planned_vs_achieved_aligns_each_chunk_with_the_rewards_it_earned():
    rewards = np.array([0, 0, 1, 1, 0, 1], np.float32)  # index t + 1 is paid for decision t
    planned = {0: np.array([0.5, 0.5, 0.5]), 3: np.array([2.0, 2.0, 2.0])}  # second chunk cut short at 2 steps
    metrics = planned_vs_achieved(planned, rewards)
    assert metrics["plan/executed_achieved_return"] == pytest.approx((2.0 + 1.0) / 2)
    assert metrics["plan/executed_predicted_return"] == pytest.approx((1.5 + 4.0) / 2)
    assert planned_vs_achieved({}, rewards) == {}
