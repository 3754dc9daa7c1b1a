"""Dreamer v1 baseline: an actor-critic learned in the world model's imagination.

No planner runs at decision time: the agent filters the observation into the current feature
and queries the actor. Each training update

1. takes one Adam step of the world model on a replay batch [B, L] (the same loss as
   :class:`agents.world_model.WorldModel`) and keeps its posterior states;
2. starts ``imag_horizon`` imagined steps from every one of the B * L posterior states
   (gradient stopped), choosing actions with the actor and stepping the stochastic prior;
3. predicts rewards (reward head) and values (value MLP) of the imagined features and forms
   TD(lambda) returns;
4. updates the actor to maximise the returns, backpropagating through the model's dynamics
   (only the actor's weights move), and the value MLP to regress the (stopped) returns.

The actor-critic part (:class:`ActorCritic`) only needs a differentiable
:class:`LatentDynamics` (``step``, ``feature``, ``reward``), so it can be tested on small
analytic problems without images; the agent plugs in :class:`RSSMImagination`.
Defaults (docs/algorithm.md#dreamer): actor and value lr 8e-5, horizon 15, gamma 0.99, lambda 0.95,
tanh-Normal actor with initial std 5, gradients clipped to global norm 100.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import keras
import numpy as np
import tensorflow as tf

from agents.networks import MLP
from agents.rssm import State
from agents.world_model import WorldModel
from agents.world_model_agent import WorldModelAgent
from envs.episodes import ReplaySampler

S = TypeVar("S")


class LatentDynamics(Protocol[S]):
    """What imagination needs from a model; all three must be differentiable.

    A state ``S`` is any nest of tensors with a leading batch dimension N.
    """

    def step(self, state: S, action: tf.Tensor) -> S:
        """The next state after ``action`` [N, A]."""

    def feature(self, state: S) -> tf.Tensor:
        """The actor's and value's input [N, F]."""

    def reward(self, feature: tf.Tensor) -> tf.Tensor:
        """Predicted reward: [..., F] -> [...]."""


class RSSMImagination:
    """Dreamer's imagination over a world model: sampled prior steps of the RSSM.

    States are RSSM state dicts ``{mean, std, stoch, deter}`` of [N, ...]; sampling the prior
    (reparameterised) keeps the rollout differentiable in the actions.
    """

    def __init__(self, model: WorldModel):
        self._model = model

    def step(self, state: State, action: tf.Tensor) -> State:
        return self._model.rssm.img_step(state, action, sample=True)

    def feature(self, state: State) -> tf.Tensor:
        return self._model.rssm.feature(state)

    def reward(self, feature: tf.Tensor) -> tf.Tensor:
        return self._model.reward(feature)


@dataclass(frozen=True)
class ActorCriticSettings:
    """Hyperparameters of the actor-critic; network depths are Dreamer v1's (4 and 3)."""

    horizon: int = 15
    discount: float = 0.99
    disc_lambda: float = 0.95
    actor_lr: float = 8e-5
    value_lr: float = 8e-5
    units: int = 400
    actor_layers: int = 4
    value_layers: int = 3
    grad_clip: float = 100.0
    action_init_std: float = 5.0
    min_std: float = 1e-4
    mean_scale: float = 5.0

    def __post_init__(self) -> None:
        if self.horizon < 2:
            raise ValueError(f"imag_horizon must be at least 2 (one reward and a bootstrap value), got {self.horizon}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ActorCriticSettings:
        return cls(
            horizon=int(config["imag_horizon"]),
            discount=float(config["discount"]),
            disc_lambda=float(config["disc_lambda"]),
            actor_lr=float(config["actor_lr"]),
            value_lr=float(config["value_lr"]),
            units=int(config["num_units"]),
            grad_clip=float(config["grad_clip"]),
        )


class TanhNormalActor(keras.layers.Layer):
    """pi(a | f) = tanh(N(mean, std)): an MLP of the feature [N, F] gives mean and std [N, A].

    The mean is squashed to +-``mean_scale`` so it cannot drift far into tanh's flat region;
    std = softplus(raw + c) + ``min_std`` with c chosen so that std = ``action_init_std`` when the
    raw output is 0, i.e. the initial policy explores the whole action box.
    """

    def __init__(self, action_size: int, layers: int, units: int, action_init_std: float = 5.0,
                 min_std: float = 1e-4, mean_scale: float = 5.0, **kwargs):
        super().__init__(**kwargs)
        self.net = MLP(layers, units, 2 * action_size)
        self.mean_scale, self.min_std = mean_scale, min_std
        self.raw_init_std = math.log(math.expm1(action_init_std))  # softplus^-1(action_init_std)

    def call(self, feature: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """feature [..., F] -> (mean, std) of the pre-tanh Gaussian, each [..., A]."""
        raw_mean, raw_std = tf.split(self.net(feature), 2, -1)
        mean = self.mean_scale * tf.tanh(raw_mean / self.mean_scale)
        std = tf.nn.softplus(raw_std + self.raw_init_std) + self.min_std
        return mean, std

    def sample(self, feature: tf.Tensor) -> tf.Tensor:
        """A reparameterised action sample in (-1, 1) [..., A] (differentiable in the weights)."""
        mean, std = self(feature)
        return tf.tanh(mean + std * tf.random.normal(tf.shape(mean)))

    def mode(self, feature: tf.Tensor) -> tf.Tensor:
        """The deterministic action tanh(mean) [..., A] (the tanh-Normal's median).

        Dreamer v1 estimated the mode from 100 samples; the median is exact and noise-free.
        """
        return tf.tanh(self(feature)[0])


def lambda_returns(reward: tf.Tensor, value: tf.Tensor, discount: float, lam: float) -> tf.Tensor:
    """TD(lambda) returns [H-1, N] of imagined rewards and values [H, N] (time first).

    R_t = r_t + discount * ((1 - lam) * v_{t+1} + lam * R_{t+1}) for t < H - 1, with
    R_{H-1} = v_{H-1} as bootstrap; ``r_t`` and ``v_t`` belong to the state after action t.
    The last reward is only used through the bootstrap value, as in Dreamer v1.
    """
    horizon = reward.shape[0]
    next_return = value[-1]
    returns = []
    for t in reversed(range(horizon - 1)):
        next_return = reward[t] + discount * ((1.0 - lam) * value[t + 1] + lam * next_return)
        returns.append(next_return)
    return tf.stack(returns[::-1], 0)


class ActorCritic(keras.Model):
    """The actor and value networks, their optimisers and the imagination update.

    A Keras container so that the networks' variables are tracked (Keras 3 ignores plain
    ``tf.Module`` attributes); everything is built at construction so a checkpoint can be
    restored before the first update.
    """

    def __init__(self, settings: ActorCriticSettings, feature_size: int, action_size: int,
                 dynamics: LatentDynamics, **kwargs):
        super().__init__(**kwargs)
        self.settings = settings
        self.actor = TanhNormalActor(action_size, settings.actor_layers, settings.units,
                                     settings.action_init_std, settings.min_std, settings.mean_scale)
        self.value = MLP(settings.value_layers, settings.units, 1)
        self.actor_optimizer = keras.optimizers.Adam(settings.actor_lr)
        self.value_optimizer = keras.optimizers.Adam(settings.value_lr)
        self._dynamics = dynamics
        # Per-step weights discount^t of the returns [H-1, 1]: later imagined steps count less.
        self._weights = tf.constant(
            settings.discount ** np.arange(settings.horizon - 1, dtype=np.float32)[:, None], tf.float32
        )
        zeros = tf.zeros([1, feature_size])
        self.actor(zeros)
        self.value(zeros)
        self.actor_optimizer.build(self.actor.trainable_variables)
        self.value_optimizer.build(self.value.trainable_variables)

    def imagine(self, start: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """Roll the actor through the dynamics from ``start`` (N states).

        Returns the imagined features [H, N, F] (states after each action, start excluded)
        and the mean pre-tanh std of the actions taken (a scalar, for monitoring).
        The actor sees stopped features, so its gradient flows only through the actions'
        effect on later states, as in Dreamer v1.
        """
        state, features, stds = start, [], []
        for _ in range(self.settings.horizon):
            feature = tf.stop_gradient(self._dynamics.feature(state))
            mean, std = self.actor(feature)
            action = tf.tanh(mean + std * tf.random.normal(tf.shape(mean)))
            state = self._dynamics.step(state, action)
            features.append(self._dynamics.feature(state))
            stds.append(tf.reduce_mean(std))
        return tf.stack(features, 0), tf.reduce_mean(tf.stack(stds))

    def update(self, start: Any) -> dict[str, tf.Tensor]:
        """One actor step and one value step from N start states (traceable, not compiled).

        ``start`` must already be gradient-stopped. Returns scalar metrics.
        """
        settings = self.settings
        actor_variables = self.actor.trainable_variables
        value_variables = self.value.trainable_variables
        with tf.GradientTape() as actor_tape:
            features, action_std = self.imagine(start)
            reward = self._dynamics.reward(features)  # [H, N]
            value = tf.squeeze(self.value(features), -1)  # [H, N]
            returns = lambda_returns(reward, value, settings.discount, settings.disc_lambda)
            actor_loss = -tf.reduce_mean(self._weights * returns)
        with tf.GradientTape() as value_tape:
            prediction = tf.squeeze(self.value(tf.stop_gradient(features[:-1])), -1)  # [H-1, N]
            error = prediction - tf.stop_gradient(returns)
            value_loss = tf.reduce_mean(self._weights * 0.5 * tf.square(error))
        actor_grads, actor_norm = tf.clip_by_global_norm(
            actor_tape.gradient(actor_loss, actor_variables), settings.grad_clip)
        value_grads, value_norm = tf.clip_by_global_norm(
            value_tape.gradient(value_loss, value_variables), settings.grad_clip)
        self.actor_optimizer.apply_gradients(zip(actor_grads, actor_variables, strict=True))
        self.value_optimizer.apply_gradients(zip(value_grads, value_variables, strict=True))
        return {
            "actor_loss": actor_loss,
            "value_loss": value_loss,
            "imag_return": tf.reduce_mean(returns[0]),
            "imag_reward": tf.reduce_mean(reward),
            "imag_value": tf.reduce_mean(value),
            "action_std": action_std,
            "actor_grad_norm": actor_norm,
            "value_grad_norm": value_norm,
        }

    @tf.function
    def train_step_graph(self, start: Any) -> dict[str, tf.Tensor]:
        """:meth:`update` compiled; traced once per start-state structure and shape."""
        return self.update(start)

    @tf.function
    def policy(self, feature: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(mean, std) of the pre-tanh Gaussian for features [N, F]; compiled for acting."""
        return self.actor(feature)


class DreamerAgent(WorldModelAgent):
    """The Dreamer v1 agent on the shared world-model skeleton (agents/world_model_agent.py).

    Until the first :meth:`train` call it acts uniformly at random (the prefill), like the
    planning agents. Afterwards it acts with the actor on the filtered feature: a sample of
    the tanh-Normal while training (the actor's own exploration, nothing added), tanh(mean)
    in evaluation. It has no plans, so its episode video shows the decoded filtered feature
    (what the world model makes of the frame it acts on) and its held-out diagnostics predict
    ``imag_horizon`` steps open loop, the horizon the actor learns over.
    """

    CHECKPOINT = "dreamer"
    HORIZON_KEY = "imag_horizon"

    def __init__(self, config: Mapping[str, Any], action_size: int):
        super().__init__(config, action_size)
        self.behavior = ActorCritic(
            ActorCriticSettings.from_config(config), self.model.feature_size, action_size,
            RSSMImagination(self.model),
        )

    def _policy(self, feature: tf.Tensor, training: bool) -> tuple[np.ndarray, np.ndarray]:
        with self.clock.phase("plan"):  # the actor is Dreamer's planner
            mean, std = (x.numpy()[0] for x in self.behavior.policy(feature))
        if training:
            mean = mean + std * self._rng.standard_normal(mean.shape)
        action = np.tanh(mean)
        if training:  # Dreamer v1's additive exploration noise (expl_noise, 0.3)
            action = action + self._rng.normal(0.0, self.settings.expl_noise, action.shape)
        return action, feature.numpy()[0]

    @tf.function
    def _train_step(self, batch: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """World-model step on batch [B, L, ...], then actor-critic from its B * L posteriors."""
        metrics, post = self.model.update(batch)
        start = {k: tf.stop_gradient(tf.reshape(v, [-1, v.shape[-1]])) for k, v in post.items()}
        return {**metrics, **self.behavior.update(start)}

    def _update(self, batch: Mapping[str, np.ndarray]) -> dict[str, tf.Tensor]:
        """One joint model + actor-critic update on a replay batch."""
        return self._train_step({
            "image": tf.convert_to_tensor(batch["image"], tf.uint8),
            "action": tf.convert_to_tensor(batch["action"], tf.float32),
            "reward": tf.convert_to_tensor(batch["reward"], tf.float32),
        })

    def train(self, replay: ReplaySampler, updates: int) -> dict[str, float]:
        """The shared training; imagined return, value and action std feed :meth:`diagnostics`."""
        means = super().train(replay, updates)
        for name in ("imag_return", "imag_value", "action_std"):
            if name in means:
                self._stats[name].append(means[name])
        return means

    def _checkpoint(self) -> tf.train.Checkpoint:
        return tf.train.Checkpoint(
            model=self.model, model_optimizer=self.model.optimizer_,
            actor=self.behavior.actor, value=self.behavior.value,
            actor_optimizer=self.behavior.actor_optimizer, value_optimizer=self.behavior.value_optimizer,
        )
