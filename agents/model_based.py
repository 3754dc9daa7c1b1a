"""A planning agent: world model + planner, model-predictive control with exploration noise.

Acting: filter the observation into the current feature, plan when the cached actions run
out, execute the first ``mpc_steps`` actions of each plan (cache flushed on reset), add
Gaussian noise of std ``expl_noise`` while training. As in the original (docs/algorithm.md#from-plan-to-action) the
noise is added to the plan's own action, which may lie outside [-1, 1], and the sum is clipped;
test episodes execute the clipped plan action. Until the first model update (the random
prefill) it acts uniformly at random, as the original does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from agents.diagnostics import PlannedRewards, planned_vs_achieved, world_model_diagnostics
from agents.planners.base import LatentModel, Planner, PlanResult, rollout
from agents.world_model import Filter, RSSMLatentModel, WorldModel
from envs.episodes import ReplaySampler

CurveLogger = Callable[[str, float, int], None]


class ModelBasedAgent:
    def __init__(self, config: Mapping[str, Any], action_size: int, planner: Planner):
        tf.random.set_seed(config["seed"])
        self.model = WorldModel(config, action_size)
        self.latent: LatentModel = RSSMLatentModel(self.model)
        self.planner = planner
        self._filter = Filter.from_config(self.model, config)
        self._config = config
        self._action_size = action_size
        self._rng = np.random.default_rng(config["seed"])
        self._queue: list[tuple[np.ndarray, np.ndarray]] = []  # (action, planned feature)
        self._episode: list[tuple[np.ndarray, np.ndarray | None]] = []  # (observed image, planned feature)
        self._planned_rewards: PlannedRewards = {}  # decision index -> predicted rewards of executed steps
        self._plans = 0
        self._episodes_seen = 0
        self._stats: dict[str, list[float]] = defaultdict(list)
        self.trained = False
        self.last_plan: PlanResult | None = None
        self.curve_logger: CurveLogger | None = None

    def reset(self) -> None:
        self._filter.reset()
        self._queue = []
        self._episode = []
        self._planned_rewards = {}

    def act(self, observation: Mapping[str, np.ndarray], training: bool) -> np.ndarray:
        feature = self._filter.observe(observation["image"])
        planned = None
        if not self.trained:
            action = self._rng.uniform(-1.0, 1.0, self._action_size).astype(np.float32)
        else:
            if not self._queue:
                result = self._plan(feature)
                steps = self._config["mpc_steps"]
                planned_features = self._planned_features(feature, result)
                self._queue = list(zip(result.actions[:steps], planned_features[:steps], strict=False))
                executed = tf.constant(planned_features[1: steps + 1], tf.float32)
                self._planned_rewards[len(self._episode)] = self.model.reward_prediction(executed).numpy()
            action, planned = self._queue.pop(0)
            if training:
                action = action + self._rng.normal(0.0, self._config["expl_noise"], action.shape)
            action = np.clip(action, -1.0, 1.0).astype(np.float32)
        self._episode.append((observation["image"], planned))
        self._filter.record_action(action)
        return action

    def episode_diagnostics(self, episode: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Held-out world-model diagnostics and planned vs achieved return (agents/diagnostics.py)."""
        metrics = planned_vs_achieved(self._planned_rewards, np.asarray(episode["reward"]))
        every = self._config["diagnostics_every"]
        self._episodes_seen += 1
        if self.trained and every > 0 and self._episodes_seen % every == 0:
            metrics.update(world_model_diagnostics(self.model, episode, self._config["planning_horizon"]))
        return metrics

    def _planned_features(self, feature: tf.Tensor, result: PlanResult) -> np.ndarray:
        """The plan's latent trajectory [H + 1, F]; shooting plans are rolled out to get one."""
        if result.features is not None:
            return result.features
        rolled, _ = rollout(self.latent, feature, tf.constant(np.clip(result.actions, -1.0, 1.0)[None]))
        return np.concatenate([feature.numpy(), rolled.numpy()[0]])

    def episode_video(self) -> np.ndarray | None:
        """Frames [T, 64, 128, 3] uint8 of this episode: executed | decoded plan, side by side.

        The right half is what the plan expected to see at that step (open-loop within an
        MPC chunk); grey while acting randomly before the first model update.
        """
        if not self._episode:
            return None
        images = np.stack([image for image, _ in self._episode])
        planned = [feature for _, feature in self._episode]
        decoded = np.full_like(images, 128)
        rows = [i for i, feature in enumerate(planned) if feature is not None]
        if rows:
            features = tf.constant(np.stack([planned[i] for i in rows]), tf.float32)
            pixels = np.clip((self.latent.decode(features).numpy() + 0.5) * 255, 0, 255).astype(np.uint8)
            decoded[rows] = pixels
        return np.concatenate([images, decoded], axis=2)

    def _plan(self, feature: tf.Tensor) -> PlanResult:
        result = self.planner.plan(self.latent, feature)
        for name, value in result.diagnostics.items():
            self._stats[name].append(value)
        every = self._config["curve_every"]
        if self.curve_logger is not None and every > 0 and self._plans % every == 0:
            for name, values in result.curves.items():
                for iteration, value in enumerate(np.asarray(values, np.float64)):
                    self.curve_logger(f"opt/{name}", float(value), iteration)
        self._plans += 1
        self.last_plan = result
        return result

    def train(self, replay: ReplaySampler, updates: int) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for _ in range(updates):
            for name, value in self.model.train_batch(replay.sample(self._config["batch_size"])).items():
                totals[name] += value
        self.trained = True
        return {name: total / max(1, updates) for name, total in totals.items()}

    def diagnostics(self) -> dict[str, float]:
        """Per-episode means of the plans' diagnostics, plus how many plans were made."""
        summary = {name: float(np.mean(values)) for name, values in self._stats.items()}
        if self._stats:
            summary["plans"] = float(len(next(iter(self._stats.values()))))
        self._stats.clear()
        return summary

    def save(self, directory: Path) -> None:
        self.model.checkpoint().write(str(Path(directory) / "model"))

    def restore(self, directory: Path) -> None:
        self.model.checkpoint().read(str(Path(directory) / "model")).assert_existing_objects_matched()
        self.trained = True
