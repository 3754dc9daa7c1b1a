"""The networks compute what their Keras layers define, whichever kernels compute it."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from agents.networks import ConvDecoder, stride2_transposed_conv_by_phases


@pytest.mark.parametrize(("size", "inputs", "outputs", "width"), [(6, 8, 3, 30), (5, 4, 2, 5), (6, 3, 5, 7)])
def test_the_phase_form_equals_the_transposed_convolution_and_its_gradients(size, inputs, outputs, width):
    layer = keras.layers.Conv2DTranspose(outputs, size, strides=2, activation="relu")
    x = tf.random.stateless_normal([3, width, width, inputs], seed=[size, inputs])
    layer.build(x.shape)
    layer.bias.assign(tf.random.stateless_normal([outputs], seed=[1, 2]))
    weights = tf.random.stateless_normal([3, (width - 1) * 2 + size, (width - 1) * 2 + size, outputs], seed=[3, 4])

    def loss_and_gradients(compute):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(compute(x) * weights)
        return loss, tape.gradient(loss, [x, layer.kernel, layer.bias])

    reference, reference_gradients = loss_and_gradients(layer)
    phased, phased_gradients = loss_and_gradients(lambda v: stride2_transposed_conv_by_phases(layer, v))
    np.testing.assert_allclose(stride2_transposed_conv_by_phases(layer, x), layer(x), atol=1e-5)
    np.testing.assert_allclose(phased, reference, rtol=1e-5)
    for ours, theirs in zip(phased_gradients, reference_gradients, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_a_small_decoder_gives_the_images_of_its_keras_layers():
    decoder = ConvDecoder(4)
    feature = tf.random.stateless_normal([2, 5, 12], seed=[5, 6])
    images = decoder(feature)
    x = decoder.dense(tf.reshape(feature, [-1, 12]))
    x = decoder.deconvs[0](tf.reshape(x, [-1, 1, 1, x.shape[-1]]))
    for deconv in decoder.deconvs[1:]:
        x = deconv(x)
    assert images.shape == (2, 5, 64, 64, 3)
    np.testing.assert_allclose(images, tf.reshape(x, [2, 5, 64, 64, 3]), atol=1e-5)
