"""The recurrent state-space model (RSSM) of PlaNet and Dreamer, in TF2.

A state is a dict ``{mean, std, stoch, deter}``: ``deter`` is the GRU state h_t, ``stoch``
a sample z_t of the Gaussian N(mean, std). The feature a planner sees is [z_t, h_t]
(stoch + deter wide, 230 at paper sizes). See latco.md, "The world model".

    prior  ("imagine"): h_{t+1} = GRU(h_t, MLP([z_t, a_t])),  p(z_{t+1} | h_{t+1})
    posterior ("observe"):                                      q(z_t | h_t, embed(o_t))
"""

from __future__ import annotations

import keras
import tensorflow as tf

State = dict[str, tf.Tensor]

MIN_STD = 0.1  # std = softplus(.) + 0.1, as in the original


class RSSM(keras.layers.Layer):
    def __init__(self, stoch: int, deter: int, hidden: int, **kwargs):
        super().__init__(**kwargs)
        self.stoch_size, self.deter_size = stoch, deter
        self.img_in = keras.layers.Dense(hidden, activation="elu")
        self.cell = keras.layers.GRUCell(deter)
        self.img_out = keras.layers.Dense(hidden, activation="elu")
        self.img_dist = keras.layers.Dense(2 * stoch)
        self.obs_out = keras.layers.Dense(hidden, activation="elu")
        self.obs_dist = keras.layers.Dense(2 * stoch)

    @property
    def feature_size(self) -> int:
        return self.stoch_size + self.deter_size

    def initial(self, batch_size) -> State:
        zeros = lambda size: tf.zeros([batch_size, size], tf.float32)  # noqa: E731
        return {"mean": zeros(self.stoch_size), "std": zeros(self.stoch_size),
                "stoch": zeros(self.stoch_size), "deter": zeros(self.deter_size)}

    @staticmethod
    def feature(state: State) -> tf.Tensor:
        return tf.concat([state["stoch"], state["deter"]], -1)

    @staticmethod
    def mean_feature(state: State) -> tf.Tensor:
        """[mean of z, h]: the deterministic feature planners optimise over."""
        return tf.concat([state["mean"], state["deter"]], -1)

    def _gaussian(self, layer, x: tf.Tensor, sample: bool) -> State:
        mean, raw_std = tf.split(layer(x), 2, -1)
        std = tf.nn.softplus(raw_std) + MIN_STD
        stoch = mean + std * tf.random.normal(tf.shape(mean)) if sample else mean
        return {"mean": mean, "std": std, "stoch": stoch}

    def deter_step(self, stoch: tf.Tensor, deter: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
        """h_{t+1} from (z_t, h_t, a_t)."""
        x = self.img_in(tf.concat([stoch, action], -1))
        _, [deter] = self.cell(x, [deter])
        return deter

    def img_step(self, state: State, action: tf.Tensor, sample: bool = True) -> State:
        """Prior: the next state without an observation."""
        deter = self.deter_step(state["stoch"], state["deter"], action)
        return {**self._gaussian(self.img_dist, self.img_out(deter), sample), "deter": deter}

    def obs_step(self, state: State, action: tf.Tensor, embed: tf.Tensor, sample: bool = True) -> tuple[State, State]:
        """(posterior, prior) of the next state given its observation's embedding."""
        prior = self.img_step(state, action, sample)
        x = self.obs_out(tf.concat([prior["deter"], embed], -1))
        post = {**self._gaussian(self.obs_dist, x, sample), "deter": prior["deter"]}
        return post, prior

    def observe(self, embed: tf.Tensor, action: tf.Tensor, state: State | None = None) -> tuple[State, State]:
        """Filter a sequence: embed [B, T, E], action [B, T, A] -> posts, priors [B, T, ...].

        ``action[:, t]`` is the action that led to observation t (Dreamer's alignment).
        """
        if state is None:
            state = self.initial(tf.shape(embed)[0])
        posts, priors = [], []
        for t in range(embed.shape[1]):
            state, prior = self.obs_step(state, action[:, t], embed[:, t])
            posts.append(state)
            priors.append(prior)
        stack = lambda states: {k: tf.stack([s[k] for s in states], 1) for k in states[0]}  # noqa: E731
        return stack(posts), stack(priors)

    def imagine_mean(self, feature: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
        """Deterministic latent dynamics on features: [z, h], a -> [mean z', h'].

        This is the ``step`` of the latent-model protocol that planners differentiate.
        """
        stoch, deter = tf.split(feature, [self.stoch_size, self.deter_size], -1)
        next_deter = self.deter_step(stoch, deter, action)
        mean, _ = tf.split(self.img_dist(self.img_out(next_deter)), 2, -1)
        return tf.concat([mean, next_deter], -1)
