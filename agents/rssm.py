"""The recurrent state-space model (RSSM) of PlaNet and Dreamer, in TF2.

A state is a dict ``{mean, std, stoch, deter}``: ``deter`` is the GRU state h_t, ``stoch``
a sample z_t of the Gaussian N(mean, std). The feature a planner sees is [z_t, h_t]
(stoch + deter wide, 230 at paper sizes). See docs/algorithm.md#the-world-model.

    prior  ("imagine"): h_{t+1} = GRU(h_t, MLP([z_t, a_t])),  p(z_{t+1} | h_{t+1})
    posterior ("observe"):                                      q(z_t | h_t, embed(o_t))
"""

from __future__ import annotations

import keras
import tensorflow as tf

State = dict[str, tf.Tensor]

MIN_STD = 0.1  # std = softplus(.) + 0.1, as in the original


class GRU(keras.layers.Layer):
    """A gated recurrent unit with the reset gate applied after the recurrent product.

    Written out (rather than keras.layers.GRUCell) so its equations, and the analytic
    Jacobian LatCo needs from them, sit side by side:

        z = sigmoid(x Wz + h Uz + bz),   r = sigmoid(x Wr + h Ur + br)
        c = h Un + bc,                   n = tanh(x Wn + bn + r * c)
        h' = z * h + (1 - z) * n
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape) -> None:
        inputs, units = input_shape[-1], self.units
        self.kernel = self.add_weight(shape=(inputs, 3 * units), initializer="glorot_uniform", name="kernel")
        self.recurrent = self.add_weight(shape=(units, 3 * units), initializer="orthogonal", name="recurrent")
        self.bias = self.add_weight(shape=(4 * units,), initializer="zeros", name="bias")

    def _parts(self, x: tf.Tensor, h: tf.Tensor):
        # Both gates from one product of [x, h] with their stacked kernels, its bias and the
        # sigmoid in a row: TensorFlow's CPU graph rewriter fuses MatMul + BiasAdd + Sigmoid
        # into one oneDNN call, which keeps the [samples, 400] intermediate of a 10,000-sample
        # CEM rollout out of memory (a bfloat16 CEM iteration took ~1.48 s with two products
        # and separate adds, ~1.16-1.19 s this way).
        units = self.units
        w_gates, wn = tf.split(self.kernel, [2 * units, units], -1)
        u_gates, un = tf.split(self.recurrent, [2 * units, units], -1)
        b_gates, bn, bc = tf.split(self.bias, [2 * units, units, units])
        gates = tf.nn.bias_add(tf.concat([x, h], -1) @ tf.concat([w_gates, u_gates], 0), b_gates)
        z, r = tf.split(tf.sigmoid(gates), 2, -1)
        c = tf.nn.bias_add(h @ un, bc)
        n = tf.tanh(tf.nn.bias_add(x @ wn, bn) + r * c)
        return z, r, c, n

    def call(self, x: tf.Tensor, h: tf.Tensor) -> tf.Tensor:
        z, _, _, n = self._parts(x, h)
        return n + z * (h - n)  # = z * h + (1 - z) * n, one operation fewer

    def jacobians(self, x: tf.Tensor, h: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """d h' / d x [B, units, inputs] and d h' / d h [B, units, units], from the equations."""
        z, r, c, n = self._parts(x, h)
        wz, wr, wn = [tf.transpose(w) for w in tf.split(self.kernel, 3, -1)]
        uz, ur, un = [tf.transpose(w) for w in tf.split(self.recurrent, 3, -1)]
        via_z = ((h - n) * z * (1.0 - z))[..., None]          # d h' / d pre_z
        via_n = ((1.0 - z) * (1.0 - tf.square(n)))[..., None]  # d h' / d pre_n
        via_r = via_n * (c * r * (1.0 - r))[..., None]         # d h' / d pre_r
        d_x = via_z * wz + via_n * wn + via_r * wr
        d_h = tf.linalg.diag(z) + via_z * uz + via_n * (r[..., None] * un) + via_r * ur
        return d_x, d_h


class RSSM(keras.layers.Layer):
    def __init__(self, stoch: int, deter: int, hidden: int, **kwargs):
        super().__init__(**kwargs)
        self.stoch_size, self.deter_size = stoch, deter
        self.img_in = keras.layers.Dense(hidden, activation="elu")
        self.cell = GRU(deter)
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
        mean, raw_std = tf.split(tf.cast(layer(x), tf.float32), 2, -1)
        std = tf.nn.softplus(raw_std) + MIN_STD
        stoch = mean + std * tf.random.normal(tf.shape(mean)) if sample else mean
        return {"mean": mean, "std": std, "stoch": stoch}

    def _next_deter(self, stoch: tf.Tensor, deter: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
        """h_{t+1} in the layers' compute dtype (bfloat16 under mixed precision)."""
        return self.cell(self.img_in(tf.concat([stoch, tf.cast(action, stoch.dtype)], -1)), deter)

    def deter_step(self, stoch: tf.Tensor, deter: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
        """h_{t+1} from (z_t, h_t, a_t), float32 whatever the precision: states stay float32."""
        return tf.cast(self._next_deter(stoch, deter, action), tf.float32)

    def img_step(self, state: State, action: tf.Tensor, sample: bool = True) -> State:
        """Prior: the next state without an observation."""
        deter = self.deter_step(state["stoch"], state["deter"], action)
        return {**self._gaussian(self.img_dist, self.img_out(deter), sample), "deter": deter}

    def obs_step(self, state: State, action: tf.Tensor, embed: tf.Tensor, sample: bool = True) -> tuple[State, State]:
        """(posterior, prior) of the next state given its observation's embedding."""
        prior = self.img_step(state, action, sample)
        return self.posterior(prior["deter"], embed, sample), prior

    def posterior(self, deter: tf.Tensor, embed: tf.Tensor, sample: bool = True) -> State:
        """q(z_t | h_t, embed(o_t)) as a state (float32)."""
        x = self.obs_out(tf.concat([deter, embed], -1))
        return {**self._gaussian(self.obs_dist, x, sample), "deter": deter}

    def observe(self, embed: tf.Tensor, action: tf.Tensor, state: State | None = None,
                sample: bool = True) -> tuple[State, State]:
        """Filter a sequence: embed [B, T, E], action [B, T, A] -> posts, priors [B, T, ...].

        ``action[:, t]`` is the action that led to observation t (Dreamer's alignment);
        ``sample=False`` filters on the means (a deterministic reading of a model).
        """
        if state is None:
            state = self.initial(tf.shape(embed)[0])
        posts, priors = [], []
        for t in range(embed.shape[1]):
            state, prior = self.obs_step(state, action[:, t], embed[:, t], sample)
            posts.append(state)
            priors.append(prior)
        stack = lambda states: {k: tf.stack([s[k] for s in states], 1) for k in states[0]}  # noqa: E731
        return stack(posts), stack(priors)

    def imagine_compute(self, stoch: tf.Tensor, deter: tf.Tensor, action: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(mean z', h') from (z, h, a), left in the layers' compute dtype.

        Rollouts that only want rewards (CEM's 10,000 samples) chain this directly: casting
        every intermediate state to float32 and back would cost a pass over memory per step.
        """
        next_deter = self._next_deter(stoch, deter, action)
        hidden = self.img_out(next_deter)
        # Only the mean half of the prior's output layer: the std is not part of a feature.
        kernel, bias = self.img_dist.kernel[:, : self.stoch_size], self.img_dist.bias[: self.stoch_size]
        mean = tf.nn.bias_add(hidden @ tf.cast(kernel, hidden.dtype), tf.cast(bias, hidden.dtype))
        return mean, next_deter

    def imagine_mean(self, feature: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
        """Deterministic latent dynamics on features: [z, h], a -> [mean z', h'] (float32).

        This is the ``step`` of the latent-model protocol that planners differentiate.
        """
        stoch, deter = tf.split(feature, [self.stoch_size, self.deter_size], -1)
        return tf.cast(tf.concat(self.imagine_compute(stoch, deter, action), -1), tf.float32)

    def imagine_mean_jacobian(self, feature: tf.Tensor, action: tf.Tensor) -> tf.Tensor:
        """d imagine_mean / d [feature, action]: [B, F, F + A], by the chain rule.

        Analytic instead of automatic differentiation: LatCo needs this Jacobian for every
        pair of every Gauss-Newton iteration, and reverse mode would run one backward pass
        per output (230 at paper size); here it is a few small matrix products per row.
        """
        stoch, deter = tf.split(feature, [self.stoch_size, self.deter_size], -1)
        inputs = tf.concat([stoch, action], -1)
        pre_in = inputs @ self.img_in.kernel + self.img_in.bias
        x = tf.nn.elu(pre_in)
        d_x, d_h = self.cell.jacobians(x, deter)
        # elu'(u) = 1 for u > 0, exp(u) otherwise.
        d_in = tf.transpose(self.img_in.kernel)[None] * tf.where(pre_in > 0, 1.0, tf.exp(pre_in))[..., None]
        d_deter_inputs = d_x @ d_in  # [B, deter, stoch + action]
        next_deter = tf.cast(self.cell(x, deter), tf.float32)
        pre_out = next_deter @ self.img_out.kernel + self.img_out.bias
        mean_kernel = self.img_dist.kernel[:, : self.stoch_size]
        d_mean = tf.transpose(mean_kernel)[None] @ (
            tf.transpose(self.img_out.kernel)[None] * tf.where(pre_out > 0, 1.0, tf.exp(pre_out))[..., None]
        )  # [B, stoch, deter]
        stoch_cols, action_cols = tf.split(d_deter_inputs, [self.stoch_size, action.shape[-1]], -1)
        d_next_deter = tf.concat([stoch_cols, d_h, action_cols], -1)  # columns: [stoch, deter, action]
        return tf.concat([d_mean @ d_next_deter, d_next_deter], 1)
