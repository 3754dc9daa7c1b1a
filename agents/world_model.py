"""The world model every method learns: RSSM + image encoder/decoder + reward head.

Loss (docs/algorithm.md#the-world-model): kl_scale * max(KL(posterior || prior), free_nats) - log p(image) - log p(reward),
unit-variance Gaussians for image and reward; Adam with global-norm gradient clipping.
The planners never see this class, only its :class:`LatentModel` view (``latent_model``).

Reward normalisation (``reward_norm``, docs/protocol.md#reward-normalisation): on dense MetaWorld the original trains
the reward head on (r - m) / s, m and s exponential moving averages (rate 0.01 per update, from
0 and 1) of the batch mean and std of the raw reward, so the planners optimise the normalised
prediction. The averages are tracked on every update and saved with the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from agents.networks import MLP, ConvDecoder, ConvEncoder, dtype_policy, preprocess
from agents.rssm import RSSM, State
from agents.settings import ConfigSettings

tfd = tfp.distributions


REWARD_EMA_RATE = 0.01  # weight of each batch in the reward statistics, as in the original
IMAGE_NLL_CONSTANT = 0.5 * np.log(2 * np.pi) * 64 * 64 * 3  # the unit-variance Gaussian's floor per image


@dataclass(frozen=True)
class WorldModelSettings(ConfigSettings):
    """What the world model and its filter read from a resolved config (``world_model``
    section, plus the two task keys ``reward_norm: auto`` decides on); each field is the config
    key of the same name. Built once where the agent is built and passed down."""

    deter_size: int
    stoch_size: int
    hidden_size: int
    num_units: int
    cnn_depth: int
    model_lr: float
    grad_clip: float
    free_nats: float
    kl_scale: float
    reward_norm: Literal["auto", "ema", "none"]
    precision: Literal["float32", "mixed_bfloat16"]
    filter_sample: bool
    env_family: Literal["metaworld", "dmc", "pointmass"]
    sparse_reward: bool

    @property
    def normalise_reward(self) -> bool:
        """Whether the reward head learns normalised rewards: ``auto`` is the original's choice,
        on for dense MetaWorld only (its ``--dense_mw`` sets ``normalize_reward``)."""
        if self.reward_norm == "auto":
            return self.env_family == "metaworld" and not self.sparse_reward
        return self.reward_norm == "ema"


class WorldModel(keras.Model):
    def __init__(self, settings: WorldModelSettings, action_size: int, **kwargs):
        super().__init__(**kwargs)
        self.action_size = action_size
        self.normalise_reward = settings.normalise_reward
        self.reward_mean = self.add_weight(shape=(), initializer="zeros", trainable=False, name="reward_mean")
        self.reward_std = self.add_weight(shape=(), initializer="ones", trainable=False, name="reward_std")
        self.free_nats = settings.free_nats
        self.kl_scale = settings.kl_scale
        self.grad_clip = settings.grad_clip
        # ``precision`` only changes how products are computed: variables stay float32, so
        # checkpoints load under either precision (train in bfloat16, evaluate in float32).
        with dtype_policy(settings.precision):
            self.encoder = ConvEncoder(settings.cnn_depth)
            self.decoder = ConvDecoder(settings.cnn_depth)
            self.rssm = RSSM(settings.stoch_size, settings.deter_size, settings.hidden_size)
            self.reward_head = MLP(2, settings.num_units, 1)
        self.optimizer_ = keras.optimizers.Adam(settings.model_lr)
        self._build()

    def _build(self) -> None:
        """Create every variable now, so checkpoints can be restored before training."""
        batch = {
            "image": tf.zeros([1, 2, 64, 64, 3], tf.uint8),
            "action": tf.zeros([1, 2, self.action_size]),
            "reward": tf.zeros([1, 2]),
        }
        self.losses_and_states(batch)
        self.optimizer_.build(self.trainable_variables)

    @property
    def feature_size(self) -> int:
        return self.rssm.feature_size

    def reward(self, feature: tf.Tensor) -> tf.Tensor:
        """Predicted reward (the mode of the unit-variance Gaussian): [..., F] -> [...]."""
        return tf.squeeze(self.reward_head(feature), -1)

    def losses_and_states(self, batch: Mapping[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], State]:
        image = preprocess(batch["image"])  # once: [B, L, 64, 64, 3] is the largest tensor of a step
        post, prior = self.rssm.observe(self.encoder(image), tf.cast(batch["action"], tf.float32))
        feature = self.rssm.feature(post)
        # -log N(image; mean, 1) summed over pixels, written out: the same value as TFP's
        # Independent(Normal).log_prob without its per-pixel log-scale and standardisation.
        squared_error = tf.reduce_sum(tf.square(self.decoder(feature) - image), [-3, -2, -1])
        image_nll = 0.5 * tf.reduce_mean(squared_error) + IMAGE_NLL_CONSTANT
        reward_nll = -tf.reduce_mean(tfd.Normal(self.reward(feature), 1.0).log_prob(self.reward_target(batch["reward"])))
        kl = tf.reduce_mean(
            tfd.kl_divergence(
                tfd.Independent(tfd.Normal(post["mean"], post["std"]), 1),
                tfd.Independent(tfd.Normal(prior["mean"], prior["std"]), 1),
            )
        )
        # Free nats: the KL term stops pulling once it is below free_nats on average.
        kl_loss = tf.maximum(kl, self.free_nats)
        loss = self.kl_scale * kl_loss + image_nll + reward_nll
        return {"model_loss": loss, "image_nll": image_nll, "reward_nll": reward_nll, "kl": kl}, post

    def reward_prediction(self, feature: tf.Tensor) -> tf.Tensor:
        """The reward head's prediction in the environment's units (diagnostics compare it with
        paid rewards); planners optimise :meth:`reward`, normalised when ``reward_norm`` is on."""
        predicted = self.reward(feature)
        if not self.normalise_reward:
            return predicted
        return predicted * self.reward_std + self.reward_mean

    def reward_target(self, reward: tf.Tensor) -> tf.Tensor:
        """What the reward head learns: the raw reward, or (r - m) / s with the moving averages."""
        reward = tf.cast(reward, tf.float32)
        if not self.normalise_reward:
            return reward
        return (reward - self.reward_mean) / self.reward_std

    def update(self, batch: Mapping[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], State]:
        """One Adam step on a batch [B, L, ...], then the reward statistics move towards it.

        The statistics move after the loss is taken (the batch is normalised by the averages
        of the earlier batches), as in the original. Returns the metrics and the posteriors.
        """
        with tf.GradientTape() as tape:
            metrics, post = self.losses_and_states(batch)
        gradients = tape.gradient(metrics["model_loss"], self.trainable_variables)
        gradients, norm = tf.clip_by_global_norm(gradients, self.grad_clip)
        self.optimizer_.apply_gradients(zip(gradients, self.trainable_variables, strict=True))
        reward = tf.cast(batch["reward"], tf.float32)
        self.reward_mean.assign((1 - REWARD_EMA_RATE) * self.reward_mean + REWARD_EMA_RATE * tf.reduce_mean(reward))
        self.reward_std.assign((1 - REWARD_EMA_RATE) * self.reward_std + REWARD_EMA_RATE * tf.math.reduce_std(reward))
        return {**metrics, "grad_norm": norm, "reward_ema_mean": tf.identity(self.reward_mean),
                "reward_ema_std": tf.identity(self.reward_std)}, post

    @tf.function
    def train_step_graph(self, batch: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return self.update(batch)[0]

    def train_batch(self, batch: Mapping[str, np.ndarray]) -> dict[str, float]:
        """One Adam step on a replay batch; returns float metrics."""
        tensors = {k: tf.convert_to_tensor(batch[k]) for k in ("image", "action", "reward")}
        return {k: float(v) for k, v in self.train_step_graph(tensors).items()}

    def checkpoint(self) -> tf.train.Checkpoint:
        return tf.train.Checkpoint(model=self, optimizer=self.optimizer_)


class RSSMLatentModel:
    """The latent-model protocol (docs/algorithm.md#the-latent-model-protocol) over a trained :class:`WorldModel`.

    ``step(feature [B, F], action [B, A]) -> next mean feature [B, F]``,
    ``reward(feature [..., F]) -> [...]``. Both are differentiable, so planners can take
    Jacobians; neither needs images. It also offers every optional extra a planner may use
    (``returns``, ``step_jacobian``, ``step_moments``, ``decode``, ``encode``, ``posterior``):
    planners see this view only, never the world model behind it.
    """

    def __init__(self, model: WorldModel):
        self._model = model
        self.feature_size = model.feature_size
        self.action_size = model.action_size

    def step(self, feature: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
        return self._model.rssm.imagine_mean(feature, action)

    def reward(self, feature: tf.Tensor) -> tf.Tensor:
        return self._model.reward(feature)

    def returns(self, feature: tf.Tensor, actions: tf.Tensor) -> tf.Tensor:
        """Sum of the rewards reached by ``actions`` [B, H, A] from ``feature`` [B, F]: [B].

        Equal to summing ``reward`` over a rollout of ``step`` (optional part of the
        protocol, see ``planners.base.rollout_returns``), but each step's reward is taken
        while its state is still in cache and the state stays in the compute dtype.
        """
        rssm = self._model.rssm
        stoch, deter = tf.split(feature, [rssm.stoch_size, rssm.deter_size], -1)
        total = tf.zeros(tf.shape(feature)[:1], tf.float32)
        for t in range(actions.shape[1]):
            stoch, deter = rssm.imagine_compute(stoch, deter, actions[:, t])
            total += self._model.reward(tf.concat([stoch, deter], -1))
        return total

    def step_jacobian(self, feature: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
        """d step / d [feature, action]: [B, F, F + A] (optional part of the protocol)."""
        return self._model.rssm.imagine_mean_jacobian(feature, action)

    def decode(self, feature: tf.Tensor) -> tf.Tensor:
        """Mean image in [-0.5, 0.5] for plan visualisation and image collocation."""
        return self._model.decoder(feature)

    def step_moments(self, feature: tf.Tensor, action: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(``step``, std of the transition noise) [B, F] each, in one pass (PLatCo's extra).

        The std is the prior's for z and 0 for the GRU state h, which is deterministic.
        """
        rssm = self._model.rssm
        stoch, deter = tf.split(feature, [rssm.stoch_size, rssm.deter_size], -1)
        prior = rssm.img_step({"stoch": stoch, "deter": deter}, action, sample=False)
        return rssm.mean_feature(prior), tf.concat([prior["std"], tf.zeros_like(prior["deter"])], -1)

    def encode(self, image: tf.Tensor) -> tf.Tensor:
        """Embedding [..., E] of images [..., 64, 64, 3] in [-0.5, 0.5] (image collocation's extra)."""
        return self._model.encoder(image)

    def posterior(self, prior: tf.Tensor, embedding: tf.Tensor) -> tf.Tensor:
        """The feature an image's embedding makes of a predicted feature [B, F]: [mean z | h, e], h].

        A planned image is filtered as a real observation is (image collocation's extra).
        """
        rssm = self._model.rssm
        return rssm.mean_feature(rssm.posterior(prior[..., rssm.stoch_size:], embedding, sample=False))


class Filter:
    """Online filtering of observations into the current feature, one step at a time.

    This is ``initial_feature(observation history)`` of the latent-model protocol, kept
    incremental so each decision costs one posterior step. Like the original (docs/algorithm.md#the-latent-model-protocol)
    it samples z from each posterior, feeds the sample to the next GRU step and returns
    [sample, h] to plan from; ``sample=False`` keeps the posterior means instead (the
    ``filter_sample: false`` variant). The noise comes from its own generator seeded by
    ``seed``, so a run's filter draws do not depend on anything else that consumes randomness.

    ``single_frame`` forgets the history: each observation is filtered alone, one posterior
    step from the zero state and the zero action. That is what the original's ``eval.py``
    plans from (``eval_filter: single_frame``, docs/protocol.md#evaluation); training and our
    default evaluation filter the whole episode.
    """

    def __init__(self, model: WorldModel, sample: bool = True, seed: int = 0, single_frame: bool = False):
        self._model = model
        self._sample = sample
        self.single_frame = single_frame
        self._rng = np.random.default_rng([seed, FILTER_STREAM])
        self.reset()

    def reset(self) -> None:
        self._state = self._model.rssm.initial(1)
        self._last_action = tf.zeros([1, self._model.action_size])

    def observe(self, image: np.ndarray) -> tf.Tensor:
        """Fold in a new observation; return the feature [1, F] to plan from."""
        if self.single_frame:
            self.reset()
        size = self._model.rssm.stoch_size
        noise = self._rng.standard_normal([1, size]) if self._sample else np.zeros([1, size])
        self._state = _filter_step(self._model, self._state, self._last_action, tf.convert_to_tensor(image[None]),
                                   tf.constant(noise, tf.float32))
        return self._model.rssm.feature(self._state)

    def record_action(self, action: np.ndarray) -> None:
        self._last_action = tf.convert_to_tensor(np.asarray(action, np.float32)[None])


FILTER_STREAM = 0xF17  # second word of the filter generator's seed: a stream of its own


@tf.function(reduce_retracing=True)
def _filter_step(model: WorldModel, state: State, action: tf.Tensor, image: tf.Tensor, noise: tf.Tensor) -> State:
    embed = model.encoder(preprocess(image))
    post, _ = model.rssm.obs_step(state, action, embed, sample=False)
    return {**post, "stoch": post["mean"] + post["std"] * noise}

