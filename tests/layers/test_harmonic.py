import keras
import numpy as np
import pytest
import scipy.fft
from keras import ops

from dct_keras import HarmonicConv
from dct_keras.layers import harmonic_filter_bank


def _np(x):
    return ops.convert_to_numpy(x)


@pytest.mark.parametrize("size", [2, 3, 5, 7])
def test_filter_bank_is_the_separable_scipy_dct_basis(size):
    bank = harmonic_filter_bank(size)
    assert bank.shape == (size, size, size * size)
    frequencies = sorted(((u, v) for u in range(size) for v in range(size)), key=lambda f: (f[0] + f[1], f[0]))
    for index, (u, v) in enumerate(frequencies):
        impulse = np.zeros((size, size))
        impulse[u, v] = 1.0
        np.testing.assert_allclose(bank[:, :, index], scipy.fft.idctn(impulse, norm="ortho"), atol=1e-12)


def test_l1_normalization():
    bank = harmonic_filter_bank(3, normalization="l1")
    np.testing.assert_allclose(np.abs(bank).sum(axis=(0, 1)), 1.0)


@pytest.mark.parametrize("levels,count", [(1, 1), (2, 3), (3, 6), (4, 8), (5, 9), (6, 9), (50, 9), (None, 9)])
def test_levels_for_3x3(levels, count):
    # lambda > K keeps the frequencies with u + v < lambda: 8 for 4, all 9 from 5 = 2K - 1 on.
    layer = HarmonicConv(4, 3, levels=levels)
    layer.build((None, 8, 8, 2))
    assert layer.frequencies == count
    assert layer.pointwise_kernel.shape == (1, 1, 2 * count, 4)


def test_full_block_has_the_parameters_of_a_conv():
    layer = HarmonicConv(16, 3)
    layer.build((None, 8, 8, 5))
    assert layer.count_params() == 3 * 3 * 5 * 16 + 16


def _reference_block(x, bank, weights, bias, strides, padding):
    """Depthwise DCT responses then a 1x1 combination, with NumPy/SciPy-free conv via Keras' plain Conv2D."""
    size, frequencies = bank.shape[0], bank.shape[-1]
    channels = x.shape[-1]
    kernel = np.zeros((size, size, channels, channels * frequencies), "float32")
    for n in range(channels):
        kernel[:, :, n, n * frequencies:(n + 1) * frequencies] = bank
    conv = keras.layers.Conv2D(channels * frequencies, size, strides=strides, padding=padding, use_bias=False)
    conv.build(x.shape)
    conv.set_weights([kernel])
    responses = _np(conv(x))
    return np.einsum("bhwk,km->bhwm", responses, weights[0, 0]) + bias


@pytest.mark.parametrize("strides,padding,levels", [(1, "same", None), (2, "valid", None), (2, "same", 2), (1, "valid", 3)])
def test_block_matches_reference_and_merged_matches_unmerged(rng, strides, padding, levels):
    x = rng.standard_normal((2, 9, 9, 3)).astype("float32")
    block = HarmonicConv(5, 3, strides=strides, padding=padding, levels=levels)
    block.build(x.shape)
    block.bias.assign(rng.standard_normal(5).astype("float32"))
    expected = _reference_block(x, block.filter_bank.astype("float32"), _np(block.pointwise_kernel), _np(block.bias), strides, padding)
    np.testing.assert_allclose(_np(block(x)), expected, atol=1e-4)
    merged = HarmonicConv(5, 3, strides=strides, padding=padding, levels=levels, merged=True)
    merged.build(x.shape)
    merged.set_weights(block.get_weights())
    assert len(merged.trainable_weights) == len(block.trainable_weights)
    np.testing.assert_allclose(_np(merged(x)), _np(block(x)), atol=1e-5)


def _reference_normalized_block(x, block, gamma=None, beta=None):
    """Training-mode block with batch normalization, in NumPy on the reference responses."""
    responses = _reference_block(x, block.filter_bank.astype("float32"), np.eye(x.shape[-1] * block.frequencies)[None, None],
                                 0.0, block.strides, block.padding)
    mean, variance = responses.mean(axis=(0, 1, 2)), responses.var(axis=(0, 1, 2))
    normalized = (responses - mean) / np.sqrt(variance + block.response_norm.epsilon)
    if gamma is not None:
        normalized = normalized * gamma + beta
    bias = _np(block.bias) if block.use_bias else 0.0
    return np.einsum("bhwk,km->bhwm", normalized, _np(block.pointwise_kernel)[0, 0]) + bias, mean, variance


TORCH_NORMALIZATION = dict(batch_norm_momentum=0.9, batch_norm_epsilon=1e-5)


@pytest.mark.parametrize("strides,padding,levels,affine,normalization", [
    (1, "same", None, False, {}), (2, "valid", None, True, {}), (2, "same", 2, False, TORCH_NORMALIZATION),
    (1, "valid", 3, True, TORCH_NORMALIZATION)])
def test_merged_block_with_batch_norm_is_the_filter_bank_bn_1x1_block(rng, strides, padding, levels, affine,
                                                                      normalization):
    # merged=True (the default) computes the block with BN as one convolution; the filter bank -> BN -> 1x1
    # form (merged=False) and a NumPy reference give the same training outputs, gradients and moving statistics.
    x = rng.standard_normal((3, 9, 9, 3)).astype("float32") + 0.5
    options = dict(strides=strides, padding=padding, levels=levels, batch_norm=True, batch_norm_affine=affine,
                   **normalization)
    merged, unmerged = HarmonicConv(5, 3, **options), HarmonicConv(5, 3, merged=False, **options)
    expected_norm = (normalization.get("batch_norm_momentum", 0.99), normalization.get("batch_norm_epsilon", 1e-3))
    for block in (merged, unmerged):
        assert (block.response_norm.momentum, block.response_norm.epsilon) == pytest.approx(expected_norm)
    assert merged.merged
    for block in (merged, unmerged):
        block.build(x.shape)
    merged.bias.assign(rng.standard_normal(5).astype("float32"))
    if affine:
        merged.response_norm.gamma.assign(rng.uniform(0.5, 1.5, merged.response_norm.gamma.shape).astype("float32"))
        merged.response_norm.beta.assign(rng.standard_normal(merged.response_norm.beta.shape).astype("float32"))
    unmerged.set_weights(merged.get_weights())
    gamma, beta = (_np(merged.response_norm.gamma), _np(merged.response_norm.beta)) if affine else (None, None)
    expected, mean, variance = _reference_normalized_block(x, merged, gamma, beta)
    outputs = {}
    for name, block in (("merged", merged), ("unmerged", unmerged)):
        outputs[name] = _np(block(x, training=True))
        np.testing.assert_allclose(outputs[name], expected, atol=1e-4)
        momentum = block.response_norm.momentum
        np.testing.assert_allclose(_np(block.response_norm.moving_mean), (1 - momentum) * mean, atol=1e-5)
        np.testing.assert_allclose(_np(block.response_norm.moving_variance), momentum + (1 - momentum) * variance, atol=1e-5)
    np.testing.assert_allclose(outputs["merged"], outputs["unmerged"], atol=1e-5)
    np.testing.assert_allclose(_np(merged(x)), _np(unmerged(x)), atol=1e-5)  # inference: the moving statistics
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gradients = []
        for block in (merged, unmerged):
            inputs = tf.constant(x)
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                loss = tf.reduce_sum(block(inputs, training=True) ** 3)
            gradients.append([_np(g) for g in tape.gradient(loss, [inputs] + block.trainable_weights)])
        for got, want in zip(*gradients):
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max())


@pytest.mark.parametrize("normalization", ["ortho", "l1"])
def test_conversion_of_a_trained_conv_is_exact_in_the_full_basis(rng, normalization):
    conv = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu")
    conv.build((None, 10, 10, 4))
    conv.bias.assign(rng.standard_normal(6).astype("float32"))
    x = rng.standard_normal((2, 10, 10, 4)).astype("float32")
    block = HarmonicConv.from_conv2d(conv, normalization=normalization)
    np.testing.assert_allclose(_np(block(x)), _np(conv(x)), atol=1e-5)


def test_conversion_onto_a_truncated_basis_is_the_least_squares_projection(rng):
    conv = keras.layers.Conv2D(6, 3)
    conv.build((None, 10, 10, 4))
    block = HarmonicConv.from_conv2d(conv, levels=2)
    kernel = _np(conv.kernel)
    projected = _np(block.kernel)
    # orthonormal filters: the projection keeps the kept DCT coefficients of each slice, drops the rest
    coefficients = scipy.fft.dctn(kernel, axes=(0, 1), norm="ortho")
    keep = np.add.outer(np.arange(3), np.arange(3)) < 2
    expected = scipy.fft.idctn(coefficients * keep[:, :, None, None], axes=(0, 1), norm="ortho")
    np.testing.assert_allclose(projected, expected, atol=1e-5)
    residual = (kernel - projected).reshape(9, -1)
    assert np.abs(block.filter_bank.reshape(9, -1).T @ residual).max() < 1e-5  # orthogonal to the kept span


@pytest.mark.parametrize("kwargs,argument", [(dict(batch_norm_momentum=1.0), "batch_norm_momentum"),
                                             (dict(batch_norm_epsilon=0.0), "batch_norm_epsilon")])
def test_batch_norm_arguments_are_checked(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        HarmonicConv(4, 3, batch_norm=True, **kwargs)


def test_batch_norm_arguments_survive_the_config():
    block = HarmonicConv(4, 3, batch_norm=True, **TORCH_NORMALIZATION)
    copy = HarmonicConv.from_config(block.get_config())
    assert (copy.response_norm.momentum, copy.response_norm.epsilon) == pytest.approx((0.9, 1e-5))
