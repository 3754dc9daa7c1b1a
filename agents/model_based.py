"""A planning agent: world model + planner, model-predictive control with exploration noise.

Acting: filter the observation into the current feature, plan when the cached actions run
out, execute the first ``mpc_steps`` actions of each plan (cache flushed on reset), add
Gaussian noise of std ``expl_noise`` while training. As in the original (docs/algorithm.md#from-plan-to-action) the
noise is added to the plan's own action, which may lie outside [-1, 1], and the sum is clipped;
test episodes execute the clipped plan action (the original's eval.py executes it unclipped:
``eval_filter: single_frame``, :meth:`use_single_frame_protocol`). Until the first model
update (the random prefill) it acts uniformly at random, as the original does. Seeding, filtering, training,
held-out world-model diagnostics and checkpoints are the shared skeleton's
(agents/world_model_agent.py); this class adds the planning and the planned vs achieved return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from agents.base import CurveLogger
from agents.diagnostics import PlannedRewards, planned_vs_achieved
from agents.planners.base import LatentModel, Planner, PlanResult, rollout
from agents.settings import ConfigSettings
from agents.world_model import RSSMLatentModel
from agents.world_model_agent import WorldModelAgent


@dataclass(frozen=True)
class MPCSettings(ConfigSettings):
    """What model-predictive control reads from a resolved config (config keys of the same
    name): actions executed per plan, and every how many plans the curves are logged."""

    mpc_steps: int
    curve_every: int


class ModelBasedAgent(WorldModelAgent):
    def __init__(self, config: Mapping[str, Any], action_size: int, planner: Planner,
                 curve_logger: CurveLogger | None = None):
        """``curve_logger``: where every ``curve_every``-th plan's per-iteration optimisation
        curves go (``opt/<name>`` against the iteration); None logs none (evaluation runs)."""
        super().__init__(config, action_size)
        self.mpc = MPCSettings.from_config(config)
        self.latent: LatentModel = RSSMLatentModel(self.model)
        self.planner = planner
        self._queue: list[tuple[np.ndarray, np.ndarray]] = []  # (action, planned feature)
        self._planned_rewards: PlannedRewards = {}  # decision index -> predicted rewards of executed steps
        self._plans = 0
        self.last_plan: PlanResult | None = None
        self.curve_logger = curve_logger

    def reset(self) -> None:
        super().reset()
        self._queue = []
        self._planned_rewards = {}

    def _policy(self, feature: tf.Tensor, training: bool) -> tuple[np.ndarray, np.ndarray]:
        """The next cached plan action (a new plan when the cache is empty), noisy if training.

        The video shows the plan's own feature for the step: what it expected to see there
        (open loop within an MPC chunk). Making a plan, its feature rollout and its predicted
        rewards are timed as ``plan``.
        """
        if not self._queue:
            with self.clock.phase("plan"):
                result = self._plan(feature)
                steps = self.mpc.mpc_steps
                planned_features = self._planned_features(feature, result)
                self._queue = list(zip(result.actions[:steps], planned_features[:steps], strict=False))
                executed = tf.constant(planned_features[1: steps + 1], tf.float32)
                self._planned_rewards[len(self._episode)] = self.model.reward_prediction(executed).numpy()
        action, planned = self._queue.pop(0)
        if training:
            action = action + self._rng.normal(0.0, self.settings.expl_noise, action.shape)
        return action, planned

    def _update(self, batch: Mapping[str, np.ndarray]) -> dict[str, float]:
        return self.model.train_batch(batch)

    def episode_diagnostics(self, episode: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Planned vs achieved return of the executed plans, and the held-out world-model diagnostics."""
        metrics = planned_vs_achieved(self._planned_rewards, np.asarray(episode["reward"]))
        metrics.update(super().episode_diagnostics(episode))
        return metrics

    def _planned_features(self, feature: tf.Tensor, result: PlanResult) -> np.ndarray:
        """The plan's latent trajectory [H + 1, F]; shooting plans are rolled out to get one."""
        if result.features is not None:
            return result.features
        rolled, _ = rollout(self.latent, feature, tf.constant(np.clip(result.actions, -1.0, 1.0)[None]))
        return np.concatenate([feature.numpy(), rolled.numpy()[0]])

    def _plan(self, feature: tf.Tensor) -> PlanResult:
        result = self.planner.plan(self.latent, feature)
        for name, value in result.diagnostics.items():
            self._stats[name].append(value)
        every = self.mpc.curve_every
        if self.curve_logger is not None and every > 0 and self._plans % every == 0:
            for name, values in result.curves.items():
                for iteration, value in enumerate(np.asarray(values, np.float64)):
                    self.curve_logger(f"opt/{name}", float(value), iteration)
        self._plans += 1
        self.last_plan = result
        return result

    def diagnostics(self) -> dict[str, float]:
        """Per-episode means of the plans' diagnostics, plus how many plans were made."""
        plans = len(next(iter(self._stats.values()))) if self._stats else 0
        summary = super().diagnostics()
        if plans:
            summary["plans"] = float(plans)
        return summary
