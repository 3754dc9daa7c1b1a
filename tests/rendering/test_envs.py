"""Every task of the paper, rendered for real by MuJoCo: images, rewards, success, wrappers."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from benchmark.registry import Registry
from envs.offline_data import NoisyExpert
from envs.pointmass_arena import GREEN, NEUTRAL
from envs.pointmass_lottery import RISKY_GOAL, SAFE_GOAL
from envs.pointmass_reach import GOAL
from envs.sparse_metaworld import BUTTON_HAND_BOX, WINDOW_BASE

REGISTRY = Registry.load()
ALL_TASKS = REGISTRY.names("tasks")
METAWORLD_TASKS = [t for t in ALL_TASKS if t.startswith("mw_")]


def _config(task: str, **overrides):
    return REGISTRY.resolve_config(task, "random", "paper", cli_overrides=overrides, seed=0)


def _expert_succeeds(env, expert: NoisyExpert, seed: int) -> tuple[bool, bool]:
    """One scripted-expert episode: (succeeded, solved by its first action)."""
    observation, _ = env.reset(seed=seed)
    done, success, first, starts_solved = False, False, True, False
    while not done and not success:
        observation, reward, terminated, truncated, info = env.step(expert.act(observation, False))
        success, done = info["success"], terminated or truncated
        starts_solved |= success and first
        first = False
        # Sparse reward = the last sub-step's success flag, even with action repeat 2.
        assert reward in (0.0, 1.0) and reward == float(success)
    return success, starts_solved


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
        success, solved_at_once = _expert_succeeds(env, expert, seed)
        wins += int(success)
        starts_solved += int(solved_at_once)
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
    # 30 environment steps (plus the reset's one) of 5 MuJoCo steps of 0.01 s each.
    assert physics.data.time == pytest.approx(31 * 5 * 0.01)
    env.close()


def _enter(env, goal: np.ndarray) -> float:
    """Teleport the mass onto a goal and hold it there for one step; return the payoff."""
    base = env.unwrapped
    base.data.qpos[:] = goal
    base.data.qvel[:] = 0
    return env.step(goal)[1]


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


def test_lottery_goal_is_reachable_by_steering_to_it():
    env = envs.make(_config("pm_lottery"))
    env.reset(seed=1)
    total, info = 0.0, {}
    for _ in range(15):
        _, reward, _, _, info = env.step(SAFE_GOAL)
        total += reward
    assert total == 1.0 and info["choice"] == "safe"
    env.close()


def test_lottery_has_the_original_geometry():
    env = envs.make(_config("pm_lottery"))
    base = env.unwrapped
    np.testing.assert_allclose(base.model.site("target1").pos[:2], [-0.8, 0.7])
    np.testing.assert_allclose(base.model.site("target2").pos[:2], [0.8, 0.7])
    assert base.model.site("target1").size[0] == base.model.site("target2").size[0] == 0.25
    starts = []
    for seed in range(200):
        env.reset(seed=seed)
        # The reset's zero-action step moves the mass towards the centre from its draw in
        # x ~ U(-0.6, -0.4), y ~ U(-0.1, 0.1).
        starts.append(base.position)
    starts = np.array(starts)
    assert -0.6 < starts[:, 0].min() and starts[:, 0].max() < -0.2 and np.abs(starts[:, 1]).max() < 0.1
    risky, safe = (np.linalg.norm(starts - g, axis=1).mean() for g in (RISKY_GOAL, SAFE_GOAL))
    assert 1.7 < safe / risky < 2.3, (risky, safe)
    env.close()


@pytest.mark.parametrize("target", [(0.3, -0.5), (-0.9, 0.9), (0.0, 0.0)])
def test_pointmass_action_is_a_target_position(target):
    env = envs.make(_config("pm_lottery"))
    env.reset(seed=0)
    for _ in range(20):
        env.step(np.array(target))
    np.testing.assert_allclose(env.unwrapped.position, target, atol=0.02)
    env.close()


def _green_pixels(image: np.ndarray) -> int:
    image = image.astype(int)
    return int(np.sum((image[..., 1] > image[..., 0] + 60) & (image[..., 1] > image[..., 2] + 60)))


def _blue_pixels(image: np.ndarray) -> int:
    image = image.astype(int)
    return int(np.sum((image[..., 2] > image[..., 0] + 60) & (image[..., 2] > image[..., 1] + 60)))


def test_lottery_goals_are_grey_until_hit_and_the_image_shows_everything():
    env = envs.make(_config("pm_lottery"))
    base = env.unwrapped
    observation, _ = env.reset(seed=0)
    assert _green_pixels(observation["image"]) == 0 and _blue_pixels(observation["image"]) > 0
    for _ in range(3):  # on the way, not there yet
        observation, *_ = env.step(SAFE_GOAL)
    assert tuple(base.model.site_rgba[base.model.site("target2").id]) == pytest.approx(NEUTRAL)
    for _ in range(10):
        observation, _, _, _, info = env.step(SAFE_GOAL)
    assert info["choice"] == "safe"
    assert tuple(base.model.site("target2").rgba) == pytest.approx(GREEN)
    assert tuple(base.model.site("target1").rgba) == pytest.approx(NEUTRAL)
    assert _green_pixels(observation["image"]) > 20
    env.reset(seed=1)
    assert tuple(base.model.site("target2").rgba) == pytest.approx(NEUTRAL), "colours reset with the episode"
    for corner in ((1, -1), (-1, 1)):  # the robot stays in view at the arena's corners
        for _ in range(20):
            observation, *_ = env.step(np.array(corner, float))
        assert _blue_pixels(observation["image"]) > 3
    env.close()


def test_pm_reach_pays_every_step_inside_its_goal():
    env = envs.make(_config("pm_reach"))
    observation, _ = env.reset(seed=0)
    assert observation["image"].shape == (64, 64, 3) and _green_pixels(observation["image"]) == 0
    rewards, successes = [], []
    for _ in range(15):
        observation, reward, terminated, truncated, info = env.step(np.array(GOAL.position))
        rewards.append(reward)
        successes.append(info["success"])
        assert not terminated
    assert rewards[0] == 0.0 and rewards[-1] == 1.0 and rewards == [float(s) for s in successes]
    assert sum(rewards) >= 8, "reached within 7 steps and kept being paid for staying"
    assert _green_pixels(observation["image"]) > 20
    observation, reward, *_ = env.step(np.array([-0.6, -0.6]))
    for _ in range(5):
        observation, reward, *_ = env.step(np.array([-0.6, -0.6]))
    assert reward == 0.0 and _green_pixels(observation["image"]) == 0
    env.close()


@pytest.mark.parametrize("task", METAWORLD_TASKS)
def test_metaworld_goal_is_the_default_for_every_seed_and_for_test_episodes(task):
    """Training (seed s), test episodes (seed s + 10000) and another seed share one goal."""
    config = _config(task)
    goals = []
    for seed in (0, 10_000, 1):
        env = envs.make(config, seed=seed)
        for episode in range(2):
            env.reset(seed=seed * 10 + episode)
            goals.append(np.array(env.unwrapped.unwrapped_metaworld._target_pos[:2]))
        env.close()
    np.testing.assert_allclose(goals, [goals[0]] * len(goals), atol=1e-6)
    if task == "mw_reach":
        np.testing.assert_allclose(goals[0], [-0.1, 0.8])  # the env's default goal


@pytest.mark.parametrize("task,opening_range,base,box", [
    ("mw_window", (0.06, 0.2), (0.0, -0.1, 0.05), ((-0.15, -0.3, -0.15), (0.15, 0.0, 0.15))),
    ("mw_drawer", (0.07, 0.15), (0.0, -0.16, 0.15), ((-0.15, -0.15, 0.0), (0.15, 0.15, 0.3))),
])
def test_window_and_drawer_hand_starts_relative_to_the_handle(task, opening_range, base, box):
    env = envs.make(_config(task))
    mw = env.unwrapped.unwrapped_metaworld
    offsets = []
    for seed in range(12):
        observation, _ = env.reset(seed=seed)
        if task == "mw_window":
            opening = float(mw.data.joint("window_slide").qpos[0])
            anchor = mw.model.body("window").pos + np.array(base) + [opening, 0, 0]
        else:
            opening = -float(mw.data.qpos[9])
            anchor = mw.model.body("drawer").pos + np.array(base) - [0, opening, 0]
        assert opening_range[0] <= opening <= opening_range[1]
        offsets.append(observation["state"][:3] - anchor)
    offsets = np.array(offsets)
    low, high = np.array(box[0]), np.array(box[1])
    assert np.all(offsets > low - 0.03) and np.all(offsets < high + 0.03), offsets
    assert np.all(offsets.std(axis=0) > 0.03), "the offset is drawn per episode"
    env.close()


def test_button_hand_starts_and_moves_only_inside_the_forks_box():
    """The fork's hand box (-0.2, 0.4, 0.05)-(0.2, 0.8, 0.3) bounds the start and the arm."""
    env = envs.make(_config("mw_button"))
    mw = env.unwrapped.unwrapped_metaworld
    low, high = (np.array(corner) for corner in BUTTON_HAND_BOX)
    starts = []
    for seed in range(12):
        observation, _ = env.reset(seed=seed)
        starts.append(observation["state"][:3])
    starts = np.array(starts)
    assert np.all(starts > low - 0.01) and np.all(starts < high + 0.01), starts
    assert np.all(starts.max(0) - starts.min(0) > 0.4 * (high - low)), "drawn across the box"
    for seed in range(2):
        env.reset(seed=seed)
        for _ in range(150):  # 1.5 m of +x, +y, +z: far past every side of the box
            observation, *_ = env.step(np.array([1.0, 1.0, 1.0, 0.0]))
            mocap, hand = mw.data.mocap_pos[0], observation["state"][:3]
            assert np.all(mocap >= low - 1e-9) and np.all(mocap <= high + 1e-9), mocap
            assert np.all(hand < high + 0.005), hand  # the arm follows the mocap within millimetres
        np.testing.assert_allclose(mocap, high)  # stopped by the box, not by 3.x's (0.5, 1.0, 0.5)
    env.close()


def test_window_stands_at_the_forks_base_and_the_expert_closes_it():
    config = _config("mw_window")
    env = envs.make(config)
    mw = env.unwrapped.unwrapped_metaworld
    expert = NoisyExpert(config["env_name"], noise=0.0, seed=0)
    for seed in range(3):
        succeeded, _ = _expert_succeeds(env, expert, seed)
        assert succeeded, f"seed {seed}"
        np.testing.assert_allclose(mw.model.body("window").pos, WINDOW_BASE, atol=1e-6)  # 3.x: x = 0.1
    env.close()


def test_hammer_starts_at_the_original_heights():
    env = envs.make(_config("mw_hammer"))
    for seed in range(3):
        observation, _ = env.reset(seed=seed)
        hand, hammer = observation["state"][:3], observation["state"][4:7]
        assert hand[2] == pytest.approx(0.2, abs=0.02)
        np.testing.assert_allclose(hand[:2] - hammer[:2], [0.0, -0.1], atol=0.03)
    env.close()


def test_hammer_sparse_reward_is_the_last_sub_steps_success_not_a_sum():
    """With action repeat 2 a step whose two sub-steps both succeed still pays 1 (docs/protocol.md#success)."""
    config = _config("mw_hammer")
    assert config["action_repeat"] == 2
    env = envs.make(config)
    expert = NoisyExpert(config["env_name"], noise=0.0, seed=0)
    observation, _ = env.reset(seed=0)
    rewards, after_success = [], 0
    while after_success < 5:
        observation, reward, _, truncated, info = env.step(expert.act(observation, False))
        rewards.append(reward)
        after_success += int(bool(rewards) and max(rewards) > 0)
        assert reward == float(info["success"]) and info["env_steps"] == 2
        assert not truncated, "the expert should nail it within the episode"
    assert set(rewards) == {0.0, 1.0} and sum(rewards) >= 3, rewards
    env.close()
