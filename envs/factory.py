"""One constructor from a resolved task config to a wrapped gymnasium environment.

Wrapper order (inside out): base env -> actions rescaled to [-1, 1] -> action repeat ->
sparse reward (MetaWorld; the last sub-step's success) -> time limit in agent decisions. ``time_limit`` in the config is
in environment steps, as in the original, so the agent sees time_limit / action_repeat
decisions per episode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym

from agents.settings import ConfigSettings
from envs.families import FAMILIES
from envs.rendering import choose_gl_backend
from envs.wrappers import ActionRepeat, SparseReward


@dataclass(frozen=True)
class EnvSettings(ConfigSettings):
    """What the environment reads from a resolved config (the ``task`` section's environment
    keys and the run's ``seed``); each field is the config key of the same name. Built in the
    process that owns the run and sent to the environment's own process (envs/isolated.py)."""

    env_family: Literal["metaworld", "dmc", "pointmass"]
    env_name: str
    image_size: int
    action_repeat: int
    time_limit: int
    sparse_reward: bool
    seed: int


def make_base(settings: EnvSettings, seed: int) -> gym.Env:
    """The unwrapped environment of a task (no repeat, no limit, raw reward)."""
    family, name, size = settings.env_family, settings.env_name, settings.image_size
    if family not in FAMILIES:
        raise ValueError(f"unknown env_family '{family}'; use one of: {', '.join(FAMILIES)}")
    choose_gl_backend()
    if family == "metaworld":
        from envs.sparse_metaworld import SparseMetaWorld

        return SparseMetaWorld(name, seed, size)
    if family == "dmc":
        from envs.deepmind_control import DeepMindControl

        return DeepMindControl(name, seed, size)
    if family == "pointmass":
        if name == "lottery":
            from envs.pointmass_lottery import PointmassLottery

            return PointmassLottery(seed, size)
        if name == "reach":
            from envs.pointmass_reach import PointmassReach

            return PointmassReach(seed, size)
        raise ValueError(f"unknown pointmass env_name '{name}'; use one of: lottery, reach")
    raise NotImplementedError(f"env_family '{family}' is in envs/families.py but make_base builds none; add it here")


def make(config: EnvSettings | Mapping[str, Any], seed: int | None = None) -> gym.Env:
    """The environment a run interacts with, from its settings or the run's resolved config;
    ``seed`` defaults to the run's."""
    settings = config if isinstance(config, EnvSettings) else EnvSettings.from_config(config)
    env = make_base(settings, settings.seed if seed is None else seed)
    env = gym.wrappers.RescaleAction(env, -1.0, 1.0)
    env = ActionRepeat(env, settings.action_repeat)
    if settings.env_family == "metaworld" and settings.sparse_reward:
        env = SparseReward(env)
    decisions = max(1, settings.time_limit // settings.action_repeat)
    return gym.wrappers.TimeLimit(env, max_episode_steps=decisions)
