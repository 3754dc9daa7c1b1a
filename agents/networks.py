"""The image encoder, image decoder and MLP heads of the world model (Keras layers).

Keras 3 only tracks variables of Keras containers, so every network is a ``keras.Layer``
(a plain ``tf.Module`` holding layers would lose its variables in checkpoints).
Images are 64x64x3, preprocessed to ``x / 255 - 0.5`` (docs/protocol.md#observations-and-actions).

Every network returns float32 whatever its Keras dtype policy: under ``mixed_bfloat16`` the
products inside run in bfloat16, but what leaves a network (embeddings, images, rewards) is
float32, so states, losses and planners never see 16-bit numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import tensorflow as tf


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Layers created inside take the Keras dtype policy ``name`` (e.g. "mixed_bfloat16").

    A scope rather than a ``dtype=`` argument threaded through every constructor: the
    policy is fixed when a layer is created, and nested layers are created in many places.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def preprocess(image: tf.Tensor) -> tf.Tensor:
    """uint8 [..., 64, 64, 3] -> float32 in [-0.5, 0.5]."""
    return tf.cast(image, tf.float32) / 255.0 - 0.5


class ConvEncoder(keras.layers.Layer):
    """Four stride-2 convolutions (depth d, 2d, 4d, 8d): 64x64x3 -> 2x2x8d = 32d features."""

    def __init__(self, depth: int, **kwargs):
        super().__init__(**kwargs)
        self.convs = [
            keras.layers.Conv2D(depth * mult, 4, strides=2, activation="relu") for mult in (1, 2, 4, 8)
        ]

    def call(self, image: tf.Tensor) -> tf.Tensor:
        """image [..., 64, 64, 3] (preprocessed) -> embedding [..., 32 * depth]."""
        batch_shape = tf.shape(image)[:-3]
        x = tf.reshape(image, tf.concat([[-1], tf.shape(image)[-3:]], 0))
        for conv in self.convs:
            x = conv(x)
        x = tf.reshape(tf.cast(x, tf.float32), [tf.shape(x)[0], -1])
        return tf.reshape(x, tf.concat([batch_shape, tf.shape(x)[-1:]], 0))


class ConvDecoder(keras.layers.Layer):
    """Feature -> mean image: dense to 32d, then transposed convolutions 5, 5, 6, 6."""

    def __init__(self, depth: int, **kwargs):
        super().__init__(**kwargs)
        self.depth = depth
        self.dense = keras.layers.Dense(32 * depth)
        self.deconvs = [
            keras.layers.Conv2DTranspose(4 * depth, 5, strides=2, activation="relu"),
            keras.layers.Conv2DTranspose(2 * depth, 5, strides=2, activation="relu"),
            keras.layers.Conv2DTranspose(depth, 6, strides=2, activation="relu"),
            keras.layers.Conv2DTranspose(3, 6, strides=2),
        ]

    def call(self, feature: tf.Tensor) -> tf.Tensor:
        """feature [..., F] -> image mean [..., 64, 64, 3]."""
        batch_shape = tf.shape(feature)[:-1]
        x = self.dense(tf.reshape(feature, [-1, feature.shape[-1]]))
        # The first transposed convolution acts on a 1x1 input, so it is a matrix product:
        # computed as one (same weights, ~5x faster on CPU than the convolution kernel).
        first = self.deconvs[0]
        if not first.built:
            first.build((None, 1, 1, 32 * self.depth))
        size, _, out, inputs = first.kernel.shape  # (k, k, out, in)
        weight = tf.reshape(tf.transpose(first.kernel, [3, 0, 1, 2]), [inputs, size * size * out])
        x = tf.nn.relu(tf.reshape(x @ weight, [-1, size, size, out]) + first.bias)
        for deconv in self.deconvs[1:-1]:
            x = deconv(x)
        last = self.deconvs[-1]
        x = stride2_transposed_conv_by_phases(last, x) if x.shape[-1] <= PHASE_FORM_MAX_INPUTS else last(x)
        return tf.reshape(tf.cast(x, tf.float32), tf.concat([batch_shape, [64, 64, 3]], 0))


# The image layer's input channels up to which the phase form below is used. Measured on one
# CPU thread, fwd + bwd, 2026-12-02 (AMD EPYC, AVX2): 8 -> 3 channels (`mini`) 225 -> 150 ms
# for 500 images; 32 -> 3 (paper) 109 -> 165 ms for 200 images, so paper sizes keep the kernel.
PHASE_FORM_MAX_INPUTS = 8


def stride2_transposed_conv_by_phases(layer: keras.layers.Conv2DTranspose, x: tf.Tensor) -> tf.Tensor:
    """The stride-2 VALID transposed convolution of ``layer`` (with its weights), computed as one
    stride-1 convolution producing the 4 output phases as channels, then ``depth_to_space``.

    Output pixel (2m + p, 2n + q) only receives the kernel taps (p + 2i, q + 2j), so each of
    the four phases (p, q) is an ordinary convolution of the input with that sub-kernel,
    flipped (the transposed convolution scatters where a convolution gathers); odd kernel
    sizes pad the shorter sub-kernels with zeros and crop the extra row and column. With few
    channels TensorFlow's CPU transposed-convolution kernels are slow (the output's 3 channels
    leave the vector units idle): this form keeps 4 x as many output channels per position.
    The result equals ``layer(x)`` up to float rounding (tests/test_networks.py).
    """
    if not layer.built:
        layer.build(x.shape)
    size = layer.kernel.shape[0]  # kernel (k, k, out, in)
    taps = (size + 1) // 2
    phases = []
    for p in (0, 1):
        for q in (0, 1):
            sub = layer.kernel[p::2, q::2]
            sub = tf.pad(sub, [[0, taps - sub.shape[0]], [0, taps - sub.shape[1]], [0, 0], [0, 0]])
            phases.append(tf.transpose(tf.reverse(sub, [0, 1]), [0, 1, 3, 2]))  # (taps, taps, in, out)
    pad = taps - 1
    x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    y = tf.nn.depth_to_space(tf.nn.conv2d(x, tf.concat(phases, -1), 1, "VALID"), 2)
    crop = 2 * (x.shape[1] - 2 * pad - 1) + size
    y = tf.nn.bias_add(y[:, :crop, :crop], layer.bias)
    return layer.activation(y)


class MLP(keras.layers.Layer):
    """``layers`` ELU layers of ``units``, then a linear output of ``output_size``."""

    def __init__(self, layers: int, units: int, output_size: int, **kwargs):
        super().__init__(**kwargs)
        self.hidden = [keras.layers.Dense(units, activation="elu") for _ in range(layers)]
        self.out = keras.layers.Dense(output_size)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        for layer in self.hidden:
            x = layer(x)
        return tf.cast(self.out(x), tf.float32)
