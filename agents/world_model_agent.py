"""What every agent that learns a world model does, whatever it acts with.

The planning agent (agents/model_based.py) and Dreamer (agents/dreamer.py) differ only in how
a trained agent picks an action and in what one update trains besides the world model. The
rest lives here, once, so the two cannot drift apart:

- seeding: TensorFlow's global seed and the agent's own generator come from ``seed``;
- the run's phase clock (``clock``, agents/timing.py), timing the ``filter`` here and the
  subclass's ``plan``;
- the :class:`Filter` that folds each observation into the current feature, and the random
  prefill: until the first model update the agent acts uniformly at random, as the original
  does;
- :meth:`train`: ``updates`` steps on replay batches of ``batch_size``, metrics averaged;
- :meth:`diagnostics`: per-episode means of what the subclass recorded in ``_stats``;
- :meth:`episode_diagnostics`: held-out world-model diagnostics (agents/diagnostics.py) on
  the episode just collected, every ``diagnostics_every`` episodes once trained;
- :meth:`episode_video`: the executed frames beside what the agent's model made of them;
- :meth:`use_single_frame_protocol`: the original ``eval.py``'s way of acting, for
  ``run_suite.py eval`` with ``eval_filter: single_frame``;
- :meth:`save` / :meth:`restore` of one ``tf.train.Checkpoint``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from agents.base import Agent
from agents.diagnostics import world_model_diagnostics
from agents.settings import ConfigSettings
from agents.timing import PhaseClock
from agents.world_model import Filter, WorldModel, WorldModelSettings
from envs.episodes import ReplaySampler


@dataclass(frozen=True)
class AgentSettings(ConfigSettings):
    """What the skeleton reads from a resolved config beyond the world model's settings; each
    field is the config key of the same name, except ``diagnostics_horizon``: the key the
    agent class names as its ``HORIZON_KEY``."""

    seed: int
    batch_size: int
    expl_noise: float
    diagnostics_every: int
    diagnostics_horizon: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any], horizon_key: str) -> AgentSettings:
        return super().from_config(config, diagnostics_horizon=int(config[horizon_key]))


class WorldModelAgent(Agent):
    """The shared skeleton; subclasses implement :meth:`_policy` and :meth:`_update`.

    ``CHECKPOINT`` names the checkpoint inside the loop's checkpoint folder and
    ``HORIZON_KEY`` the config key of how far the agent looks ahead with its model, which is
    how far the open-loop diagnostics predict.
    """

    CHECKPOINT = "model"
    HORIZON_KEY = "planning_horizon"

    def __init__(self, config: Mapping[str, Any], action_size: int):
        # Keras draws initial weights from its own global seed, TensorFlow ops from theirs: set
        # both (and Python's and NumPy's) so a run's seed fixes its weights and its samples.
        self.settings = AgentSettings.from_config(config, self.HORIZON_KEY)
        keras.utils.set_random_seed(self.settings.seed)
        self.clock = PhaseClock()
        model_settings = WorldModelSettings.from_config(config)
        self.model = WorldModel(model_settings, action_size)
        self._filter = Filter(self.model, sample=model_settings.filter_sample, seed=self.settings.seed)
        self._action_size = action_size
        self._rng = np.random.default_rng(self.settings.seed)
        # (observed image, feature whose decoding the video shows beside it, or None)
        self._episode: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._episodes_seen = 0
        self._stats: dict[str, list[float]] = defaultdict(list)
        self._clip_actions = True
        self.trained = False

    def _policy(self, feature: tf.Tensor, training: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """A trained agent's action for the filtered ``feature`` [1, F], before clipping to
        [-1, 1], and the feature [F] the episode video decodes for this step (None: grey)."""
        raise NotImplementedError

    def _update(self, batch: Mapping[str, np.ndarray]) -> Mapping[str, Any]:
        """One learning step on a replay batch [B, L, ...]; returns scalar metrics."""
        raise NotImplementedError

    def _checkpoint(self) -> tf.train.Checkpoint:
        """Everything :meth:`save` writes; the world model and its optimiser by default."""
        return self.model.checkpoint()

    def reset(self) -> None:
        self._filter.reset()
        self._episode = []

    def act(self, observation: Mapping[str, np.ndarray], training: bool) -> np.ndarray:
        """Action [A] float32 in [-1, 1] for an observation with ``image`` uint8 [64, 64, 3]
        (unclipped under :meth:`use_single_frame_protocol`)."""
        with self.clock.phase("filter"):
            feature = self._filter.observe(observation["image"])
        shown = None
        if not self.trained:
            action = self._rng.uniform(-1.0, 1.0, self._action_size)
        else:
            action, shown = self._policy(feature, training)
        if self._clip_actions:
            action = np.clip(action, -1.0, 1.0)
        action = np.asarray(action, np.float32)
        self._episode.append((observation["image"], shown))
        self._filter.record_action(action)
        return action

    def use_single_frame_protocol(self) -> None:
        """From now on act as the original's ``eval.py`` did (``eval_filter: single_frame``).

        There every plan starts from the latest frame alone, one posterior step from the zero
        state and the zero action (no history), and the plan's actions reach the environment
        unclipped. Every environment of the suite clips actions to [-1, 1] itself, as the
        original's MetaWorld did, so the unclipped actions move the robot as clipped ones would;
        only the recorded actions differ. Set by benchmark/evaluation.py only: training and the
        test episodes during training filter the whole episode and clip.
        """
        self._filter.single_frame = True
        self._clip_actions = False

    def train(self, replay: ReplaySampler, updates: int) -> dict[str, float]:
        """``updates`` learning steps; returns each metric's mean over them."""
        totals: dict[str, float] = defaultdict(float)
        for _ in range(updates):
            for name, value in self._update(replay.sample(self.settings.batch_size)).items():
                totals[name] += float(value)
        self.trained = True
        return {name: total / max(1, updates) for name, total in totals.items()}

    def diagnostics(self) -> dict[str, float]:
        """Means of the values recorded in ``_stats`` since the last call (then cleared)."""
        summary = {name: float(np.mean(values)) for name, values in self._stats.items()}
        self._stats.clear()
        return summary

    def episode_diagnostics(self, episode: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Held-out world-model diagnostics of the episode just collected (agents/diagnostics.py).

        The loop calls this before the episode enters replay, so no update has seen it.
        """
        every = self.settings.diagnostics_every
        self._episodes_seen += 1
        if self.trained and every > 0 and self._episodes_seen % every == 0:
            return world_model_diagnostics(self.model, episode, self.settings.diagnostics_horizon)
        return {}

    def episode_video(self) -> np.ndarray | None:
        """Frames [T, 64, 128, 3] uint8 of this episode: executed | decoded model feature.

        The right half shows the feature :meth:`_policy` returned for that step; grey while
        acting randomly before the first model update.
        """
        if not self._episode:
            return None
        images = np.stack([image for image, _ in self._episode])
        shown = [feature for _, feature in self._episode]
        decoded = np.full_like(images, 128)
        rows = [i for i, feature in enumerate(shown) if feature is not None]
        if rows:
            features = tf.constant(np.stack([shown[i] for i in rows]), tf.float32)
            pixels = np.clip((self.model.decoder(features).numpy() + 0.5) * 255, 0, 255).astype(np.uint8)
            decoded[rows] = pixels
        return np.concatenate([images, decoded], axis=2)

    def save(self, directory: Path) -> None:
        self._checkpoint().write(str(Path(directory) / self.CHECKPOINT))

    def restore(self, directory: Path) -> None:
        self._checkpoint().read(str(Path(directory) / self.CHECKPOINT)).assert_existing_objects_matched()
        self.trained = True
