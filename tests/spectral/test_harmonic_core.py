"""The harmonic block's pieces of the spectral core, each alone, against a
brute-force NumPy block (filter bank, normalization, 1x1 combination)."""

import keras
import numpy as np
import pytest

from dct_keras.spectral.harmonic import (
    HarmonicBank, bank_responses, fold_normalization, merged_block, merged_kernel, response_moments, unmerged_block,
)
from tests.autodiff import gradient


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _correlate_valid(image, kernel):
    """Valid 2-D cross-correlation of one (H, W) map with one (K, K) filter, by loops."""
    size = kernel.shape[0]
    rows, cols = image.shape[0] - size + 1, image.shape[1] - size + 1
    return np.array([[np.sum(image[i:i + size, j:j + size] * kernel) for j in range(cols)] for i in range(rows)])


def _reference(x, filters, weights, mean=None, variance=None, epsilon=1e-3, gamma=None, beta=None):
    """Brute force: every channel x every filter, normalized, combined."""
    batch, _, _, channels = x.shape
    frequencies = filters.shape[-1]
    responses = np.stack([
        np.stack([_correlate_valid(x[b, :, :, n], filters[:, :, f]) for n in range(channels) for f in range(frequencies)],
                 axis=-1)
        for b in range(batch)])
    if mean is not None:
        responses = (responses - mean) / np.sqrt(variance + epsilon)
        if gamma is not None:
            responses = responses * gamma + beta
    return responses @ weights


@pytest.fixture
def block(rng):
    bank = HarmonicBank(3, levels=2, normalization="l1")
    x = rng.standard_normal((2, 6, 7, 3)).astype("float32")
    weights = rng.standard_normal((3 * bank.frequencies, 4)).astype("float32")
    count = 3 * bank.frequencies
    statistics = (rng.standard_normal(count).astype("float32"), (rng.random(count) + 0.5).astype("float32"))
    affine = dict(gamma=(rng.random(count) + 0.5).astype("float32"), beta=rng.standard_normal(count).astype("float32"))
    return bank, x, weights, statistics, affine


def test_bank_responses_are_each_channel_against_each_filter(block):
    bank, x, weights, _, _ = block
    expected = _reference(x, bank.filters, np.eye(3 * bank.frequencies, dtype="float32"))
    np.testing.assert_allclose(_np(bank_responses(x, bank.filters, (1, 1), "valid")), expected, atol=1e-5)


@pytest.mark.parametrize("normalized,affine", [(False, False), (True, False), (True, True)])
def test_both_execution_paths_compute_the_brute_force_block(block, normalized, affine):
    bank, x, weights, statistics, parameters = block
    parameters = parameters if affine else {}
    expected = _reference(x, bank.filters, weights, *(statistics if normalized else (None, None)), **parameters)
    merged = merged_block(x, bank.filters, weights, (1, 1), "valid", statistics if normalized else None, **parameters)
    np.testing.assert_allclose(_np(merged), expected, atol=1e-4)

    def normalize(r):
        mean, variance = statistics
        r = (r - mean) / np.sqrt(variance + 1e-3)
        return r * parameters["gamma"] + parameters["beta"] if affine else r

    unmerged = unmerged_block(x, bank.filters, weights[None, None], (1, 1), "valid", normalize if normalized else None)
    np.testing.assert_allclose(_np(unmerged), expected, atol=1e-4)


def test_fold_normalization_is_scale_and_shift_of_the_combination(block):
    _, _, weights, (mean, variance), parameters = block
    scaled, offset = fold_normalization(keras.ops.convert_to_tensor(weights), mean, variance, 1e-3, **parameters)
    scale = parameters["gamma"] / np.sqrt(variance + 1e-3)
    np.testing.assert_allclose(_np(scaled), weights * scale[:, None], rtol=1e-5)
    np.testing.assert_allclose(_np(offset), (parameters["beta"] - mean * scale) @ weights, rtol=1e-4, atol=1e-5)


def test_merged_kernel_is_the_weighted_sum_of_the_filters(block):
    bank, _, weights, _, _ = block
    kernel, offset = merged_kernel(bank.filters, weights)
    expected = np.einsum("ijf,nfm->ijnm", bank.filters, weights.reshape(3, bank.frequencies, 4))
    assert offset is None
    np.testing.assert_allclose(_np(kernel), expected, atol=1e-6)


@pytest.mark.parametrize("kwargs,argument", [(dict(kernel_size=0), "kernel_size"), (dict(kernel_size=3, levels=0), "levels"),
                                             (dict(kernel_size=3, normalization="l2"), "normalization")])
def test_bank_arguments_are_checked(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        HarmonicBank(**kwargs)


def _padded(x, size, stride, padding):
    """``x`` zero-padded as TensorFlow pads for "same" (the smaller half first)."""
    if padding == "valid":
        return x
    pads = []
    for extent in x.shape[1:3]:
        total = max((-(-extent // stride) - 1) * stride + size - extent, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


@pytest.mark.parametrize("size, stride, padding", [(3, 1, "same"), (3, 2, "same"), (2, 1, "same"), (3, 2, "valid"),
                                                   (5, 3, "same")])
def test_response_moments_and_their_recomputed_gradient_match_brute_force(size, stride, padding, rng):
    """Mean and variance of the responses, and the gradient of a weighted sum
    of them, against loops over every response and central differences."""
    filters = HarmonicBank(size, levels=2).filters
    x = rng.standard_normal((2, 7, 6, 2))
    weights = rng.standard_normal((2, 2 * filters.shape[-1]))

    def brute(x):
        responses = _reference(_padded(x, size, stride, padding), filters, np.eye(2 * filters.shape[-1]))
        responses = responses[:, ::stride, ::stride]
        return responses.mean(axis=(0, 1, 2)), responses.var(axis=(0, 1, 2))

    def weighted(moments):
        return np.sum(weights[0] * moments[0]) + np.sum(weights[1] * moments[1])

    def weighted_tensor(moments):
        return keras.ops.sum(keras.ops.multiply(keras.ops.stack(moments), weights.astype("float32")))

    mean, variance = response_moments(x.astype("float32"), filters, (stride, stride), padding)
    np.testing.assert_allclose(_np(mean), brute(x)[0], atol=1e-5)
    np.testing.assert_allclose(_np(variance), brute(x)[1], atol=1e-5)
    step = 1e-4
    expected = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        shift = np.zeros_like(x)
        shift[index] = step
        expected[index] = (weighted(brute(x + shift)) - weighted(brute(x - shift))) / (2 * step)
    found = gradient(lambda t: weighted_tensor(response_moments(t, filters, (stride, stride), padding)),
                     x.astype("float32"))
    np.testing.assert_allclose(found, expected, atol=2e-4 * max(1.0, np.abs(expected).max()))
