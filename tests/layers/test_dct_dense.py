"""DCTDense (CTNet's channel form) and the DCT family's training noise, against SciPy."""

import keras
import numpy as np
import pytest
import scipy.fft
from keras import ops

from dct_keras import DCTConv2D, DCTDense, convert


def _np(x):
    return ops.convert_to_numpy(x)


@pytest.mark.parametrize("inputs,units,block", [(32, 48, 16), (20, 7, 16), (12, 12, 5)])
def test_dense_kernel_is_the_blockwise_idctn_over_input_and_output(inputs, units, block):
    layer = DCTDense(units, pointwise_block=block)
    layer.build((None, inputs))
    coefficients = np.random.default_rng(0).standard_normal((inputs, units)).astype("float32")
    layer.coefficients.assign(coefficients)
    expected = np.zeros((inputs, units))
    for r in range(0, inputs, block):
        for c in range(0, units, block):
            expected[r:r + block, c:c + block] = scipy.fft.idctn(coefficients[r:r + block, c:c + block].astype("float64"),
                                                                 norm="ortho")
    np.testing.assert_allclose(_np(layer.kernel), expected, atol=1e-5)


def test_dense_channel_dct_mode_transforms_sub_rows_of_the_input_axis():
    layer = DCTDense(5, pointwise="channel_dct", pointwise_block=4)
    layer.build((None, 10))
    coefficients = np.random.default_rng(1).standard_normal((10, 5)).astype("float32")
    layer.coefficients.assign(coefficients)
    parts = np.split(coefficients.astype("float64"), [4, 8], axis=0)
    expected = np.concatenate([scipy.fft.idct(p, axis=0, norm="ortho") for p in parts], axis=0)
    np.testing.assert_allclose(_np(layer.kernel), expected, atol=1e-5)


def _noisy_kernel(layer, inputs):
    # With no bias and no activation, a Dense layer maps the identity to its kernel.
    return _np(layer(np.eye(inputs, dtype="float32"), training=True))


def test_training_noise_perturbs_kept_coefficients_by_at_most_half_a_step():
    q, inputs = 0.1, 24
    layer = DCTDense(20, use_bias=False, switch_off=0.3, mask_seed=3, training_noise=q, pointwise_block=8)
    layer.build((None, inputs))
    clean = _np(layer(np.eye(inputs, dtype="float32")))
    np.testing.assert_allclose(clean, _np(layer.kernel), atol=1e-6)  # inference: no noise
    first, second = _noisy_kernel(layer, inputs), _noisy_kernel(layer, inputs)
    transform = layer.spectral_kernel.transform
    mask = layer.spectral_kernel.mask_numpy()
    for noisy in (first, second):
        noise = _np(transform.forward(noisy - clean))
        assert np.abs(noise).max() <= q / 2 + 1e-5
        assert np.abs(noise[~mask]).max() < 1e-5  # switched-off coefficients stay off
        assert np.abs(noise[mask]).mean() > q / 8  # U(-q/2, q/2) has mean |u q| = q / 4
    assert np.abs(first - second).max() > 1e-3  # fresh noise every call


def test_training_noise_keeps_the_gradient_of_the_coefficients():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradient checked with tf.GradientTape")
    import tensorflow as tf

    layer = DCTConv2D(4, 3, training_noise=0.1, mask_seed=0)
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype("float32")
    layer.build(x.shape)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True) ** 2)
    gradient = tape.gradient(loss, layer.coefficients.value)
    assert gradient is not None and float(tf.reduce_max(tf.abs(gradient))) > 0


def test_training_bits_round_the_coefficients_like_the_export_with_a_straight_through_gradient(rng):
    inputs, bits = 24, 4
    layer = DCTDense(20, use_bias=False, pointwise="none", training_bits=bits, mask_seed=0)
    layer.build((None, inputs))
    c = rng.standard_normal((inputs, 20)).astype("float32")
    layer.coefficients.assign(c)
    levels = 2**bits - 1
    centre, scale = (c.min() + c.max()) / 2, levels / (c.max() - c.min())  # NumPy reference of the pixel round trip
    expected = (np.clip(np.round((c - centre) * scale + levels / 2), 0, levels) - levels / 2) / scale + centre
    np.testing.assert_allclose(_noisy_kernel(layer, inputs), expected, atol=1e-5)
    np.testing.assert_allclose(_np(layer.kernel), c, atol=1e-6)  # inference: the coefficients themselves
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        x = np.eye(inputs, dtype="float32")
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=True) * c)
        np.testing.assert_allclose(tape.gradient(loss, layer.coefficients.value).numpy(), c, atol=1e-6)  # identity


def test_coefficient_dropout_zeroes_that_fraction_and_rescales_the_rest(rng):
    inputs, rate = 64, 0.25
    layer = DCTDense(64, use_bias=False, pointwise="none", coefficient_dropout=rate, mask_seed=1)
    layer.build((None, inputs))
    c = (1.0 + rng.random((inputs, 64))).astype("float32")  # no zeros of its own
    layer.coefficients.assign(c)
    first, second = _noisy_kernel(layer, inputs), _noisy_kernel(layer, inputs)
    for dropped in (first, second):
        zero = dropped == 0
        assert abs(zero.mean() - rate) < 0.03
        np.testing.assert_allclose(dropped[~zero], c[~zero] / (1 - rate), rtol=1e-5)
    assert (first == 0).sum() != (second == 0).sum() or not np.array_equal(first == 0, second == 0)  # fresh each step


def test_convert_turns_dense_into_dct_dense_only_when_asked(rng):
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(5, name="fc")(x))
    x = rng.standard_normal((2, 6, 6, 3)).astype("float32")
    assert type(convert(model).get_layer("fc")) is keras.layers.Dense
    converted = convert(model, dense=True, pointwise="channel_block_dct2d", pointwise_block=4)
    assert type(converted.get_layer("fc")) is DCTDense and converted.get_layer("fc").pointwise_block == 4
    np.testing.assert_allclose(_np(converted(x)), _np(model(x)), atol=1e-5)
