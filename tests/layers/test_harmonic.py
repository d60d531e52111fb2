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
