"""Every task of the paper, rendered for real by MuJoCo: images, rewards, success, wrappers."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from benchmark.registry import Registry
from envs.offline_data import NoisyExpert
from envs.pointmass_lottery import RISKY_GOAL, SAFE_GOAL

REGISTRY = Registry.load()
ALL_TASKS = REGISTRY.names("tasks")
METAWORLD_TASKS = [t for t in ALL_TASKS if t.startswith("mw_")]


def _config(task: str, **overrides):
    return REGISTRY.resolve_config(task, "random", "paper", cli_overrides=overrides, seed=0)


@pytest.mark.parametrize("task", ALL_TASKS)
def test_task_resets_and_steps_with_real_images(task):
    env = envs.make(_config(task))
    observation, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        observation, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
        assert isinstance(reward, float) and np.isfinite(reward)
        assert isinstance(info["success"], bool)
        assert not terminated and not truncated
    image = observation["image"]
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert image.std() > 10, "image is (nearly) blank"
    assert np.all(np.isfinite(observation["state"]))
    assert env.action_space.low.min() == -1 and env.action_space.high.max() == 1
    env.close()


@pytest.mark.parametrize("task", METAWORLD_TASKS)
def test_scripted_expert_succeeds_on_most_seeds(task):
    """Proves the success signal and the fixed-task set-up: an expert must be able to win."""
    config = _config(task)
    env = envs.make(config)
    expert = NoisyExpert(config["env_name"], noise=0.0, seed=0)
    wins, starts_solved = 0, 0
    for seed in range(4):
        observation, _ = env.reset(seed=seed)
        done, success, first = False, False, True
        while not done and not success:
            observation, reward, terminated, truncated, info = env.step(expert.act(observation, False))
            success, done = info["success"], terminated or truncated
            starts_solved += int(success and first)
            first = False
            # Sparse reward = success per environment step, summed over the action repeat.
            assert (reward > 0) == success and reward <= config["action_repeat"]
        wins += int(success)
    env.close()
    assert wins >= 3, f"{task}: expert succeeded in {wins}/4 episodes"
    assert starts_solved == 0, f"{task}: an episode was solved by its first action"


def test_dense_reward_variant_is_shaped():
    env = envs.make(_config("mw_reach", sparse_reward=False))
    env.reset(seed=0)
    rewards = [env.step(np.zeros(4))[1] for _ in range(3)]
    assert all(0 < r < 10 for r in rewards) and max(rewards) > 0.1, rewards  # MetaWorld's own 0..10 scale
    env.close()


def test_action_repeat_and_time_limit_are_counted_exactly():
    env = envs.make(_config("pm_lottery", action_repeat=3, time_limit=30))
    env.reset(seed=0)
    physics = env.unwrapped
    decisions, env_steps, truncated = 0, 0, False
    while not truncated:
        _, _, _, truncated, info = env.step(np.zeros(2))
        decisions += 1
        env_steps += info["env_steps"]
    assert decisions == 10 and env_steps == 30
    # 30 environment steps of 5 MuJoCo steps of 0.02 s each.
    assert physics.data.time == pytest.approx(30 * 5 * 0.02)
    env.close()


def _enter(env, goal: np.ndarray) -> float:
    """Teleport the mass onto a goal and take one step; return the payoff."""
    base = env.unwrapped
    base.data.qpos[:] = goal
    base.data.qvel[:] = 0
    return env.step(np.zeros(2))[1]


def test_lottery_pays_as_specified_over_many_seeded_resets():
    env = envs.make(_config("pm_lottery"))
    payoffs = []
    for seed in range(1500):
        env.reset(seed=seed)
        payoffs.append(_enter(env, RISKY_GOAL))
        assert env.unwrapped.choice == "risky"
        assert _enter(env, SAFE_GOAL) == 0.0, "only the first goal reached pays"
    payoffs = np.array(payoffs)
    assert set(np.unique(payoffs)) == {-10.0, 2.0}
    loss_rate = np.mean(payoffs == -10.0)
    assert abs(loss_rate - 0.2) < 0.035, loss_rate  # > 3 standard errors for n = 1500
    assert abs(payoffs.mean() - (-0.4)) < 0.45
    env.reset(seed=0)
    assert _enter(env, SAFE_GOAL) == 1.0 and env.unwrapped.choice == "safe"
    env.close()


def test_lottery_goal_is_reachable_by_driving():
    env = envs.make(_config("pm_lottery"))
    env.reset(seed=1)
    total, info = 0.0, {}
    for _ in range(50):
        position = env.unwrapped.data.qpos[:2]
        _, reward, _, truncated, info = env.step(np.clip(3.0 * (SAFE_GOAL - position), -1, 1))
        total += reward
        if truncated:
            break
    assert total == 1.0 and info["choice"] == "safe"
    env.close()
