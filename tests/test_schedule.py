"""The training schedule with offline data: the original's two variants (docs/protocol.md#offline-data).

The loop drives a real pointmass environment (in a child process, as in a run) and an agent
that acts at random and records when it is trained, so the schedule itself is what is checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.loop import LoopSettings, play_episode, train_and_evaluate
from agents.random_agent import RandomAgent
from benchmark.registry import Registry
from envs.episodes import save_episode
from envs.isolated import IsolatedEnv


class RecordingAgent(RandomAgent):
    """Random actions; remembers how many training actions it had taken at each training call."""

    def __init__(self, action_dim: int, seed: int):
        super().__init__(action_dim, seed)
        self.actions = 0
        self.calls: list[tuple[int, int]] = []  # (actions taken before the call, updates)

    def act(self, observation, training):
        self.actions += int(training)  # evaluation episodes do not count
        return super().act(observation, training)

    def train(self, replay, updates):
        assert replay.episodes, "offline episodes are in replay from the first call"
        self.calls.append((self.actions, updates))
        return {}


@pytest.fixture(scope="module")
def env():
    environment = IsolatedEnv({**Registry.load().resolve_config("pm_reach", "random", "smoke"), "time_limit": 30})
    yield environment
    environment.close()


@pytest.fixture(scope="module")
def offline_dir(env, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("offline")
    agent = RandomAgent(2, 0)
    for index in range(2):
        save_episode(folder, play_episode(env, agent, training=True)[0], index)
    return folder


def _schedule(env, offline_dir: Path, tmp_path: Path, prefill: int) -> list[tuple[int, int]]:
    overrides = {"offline_dir": str(offline_dir), "prefill": prefill, "steps": 300, "time_limit": 30,
                 "train_every": 60, "pretrain": 7, "train_steps": 2, "eval_every": 10**6,
                 "checkpoint_every": 0}
    config = Registry.load().resolve_config("pm_reach", "random", "smoke", cli_overrides=overrides)
    agent = RecordingAgent(2, 0)
    train_and_evaluate(LoopSettings.from_config(config), agent, env, env, tmp_path, lambda *_: None)
    return agent.calls


def test_default_schedule_prefills_then_pretrains_at_the_first_training_call(env, offline_dir, tmp_path):
    # config.yaml's variant: random prefill (no update, however much offline data), then
    # `pretrain` updates at the first call, then `train_steps` every `train_every` steps.
    assert _schedule(env, offline_dir, tmp_path, prefill=120) == [(120, 7), (180, 2), (240, 2), (300, 2)]


def test_prefill_zero_trains_before_the_first_step_and_plans_from_step_zero(env, offline_dir, tmp_path):
    # The README's fine-tune variant: `pretrain` updates before any action, then the usual rhythm.
    assert _schedule(env, offline_dir, tmp_path, prefill=0) == [(0, 7), (60, 2), (120, 2), (180, 2), (240, 2), (300, 2)]
