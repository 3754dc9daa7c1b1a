"""One constructor from a resolved task config to a wrapped gymnasium environment.

Wrapper order (inside out): base env -> actions rescaled to [-1, 1] -> action repeat ->
sparse reward (MetaWorld; the last sub-step's success) -> time limit in agent decisions. ``time_limit`` in the config is
in environment steps, as in the original, so the agent sees time_limit / action_repeat
decisions per episode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from envs.families import FAMILIES
from envs.rendering import choose_gl_backend
from envs.wrappers import ActionRepeat, SparseReward


def make_base(config: Mapping[str, Any], seed: int) -> gym.Env:
    """The unwrapped environment of a task (no repeat, no limit, raw reward)."""
    family, name, size = config["env_family"], config["env_name"], config["image_size"]
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


def make(config: Mapping[str, Any], seed: int | None = None) -> gym.Env:
    """The environment a run interacts with, from the run's resolved config."""
    seed = config["seed"] if seed is None else seed
    env = make_base(config, seed)
    env = gym.wrappers.RescaleAction(env, -1.0, 1.0)
    env = ActionRepeat(env, config["action_repeat"])
    if config["env_family"] == "metaworld" and config["sparse_reward"]:
        env = SparseReward(env)
    decisions = max(1, config["time_limit"] // config["action_repeat"])
    return gym.wrappers.TimeLimit(env, max_episode_steps=decisions)
