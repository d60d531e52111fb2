"""The rate–distortion coding's weight (`dct_keras.spectral.coded`) against
SciPy: the rate is -log2 of the discretized logistic and its gradient the
analytic one, the rounding passes the gradient straight through, the weight
is the IDCT of the quantized coefficients, the initial steps follow their
rule."""

import keras
import numpy as np
import pytest
import scipy.fft
import scipy.stats
from keras import ops

from dct_keras.spectral.coded import CodedWeight, coded_transform, logistic_bits, ste_round
from tests.autodiff import gradient


def _np(x):
    return ops.convert_to_numpy(x)


def _bits_reference(y, scale):
    cdf = scipy.stats.logistic(scale=scale).cdf
    with np.errstate(divide="ignore"):  # a probability that underflows: infinite bits, floored by the caller
        return -np.log2(cdf(y + 0.5) - cdf(y - 0.5))


@pytest.mark.parametrize("scale", [0.05, 0.7, 4.0])
def test_the_rate_is_minus_log2_of_the_discretized_logistic(scale):
    y = np.concatenate([np.arange(-12, 13), np.random.default_rng(0).uniform(-9, 9, 50)]).astype("float32")
    got = _np(logistic_bits(ops.convert_to_tensor(y), ops.convert_to_tensor(np.float32(np.log(scale)))))
    expected = np.minimum(_bits_reference(y.astype("float64"), scale), 30.0)  # 2^-30: the rate's floor
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4)


def test_the_rates_gradient_is_the_analytic_one():
    scale = 1.3
    y = np.random.default_rng(1).uniform(-5, 5, 40).astype("float32")
    log_scale = np.float32(np.log(scale))
    got = gradient(lambda v: ops.sum(logistic_bits(v, log_scale)), y)
    # d/dy -log2(F(y + 1/2) - F(y - 1/2)) = -(f(y + 1/2) - f(y - 1/2)) / ((F(y + 1/2) - F(y - 1/2)) ln 2)
    law = scipy.stats.logistic(scale=scale)
    y64 = y.astype("float64")
    expected = -(law.pdf(y64 + 0.5) - law.pdf(y64 - 0.5)) / ((law.cdf(y64 + 0.5) - law.cdf(y64 - 0.5)) * np.log(2))
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
    got_scale = gradient(lambda s: ops.sum(logistic_bits(ops.convert_to_tensor(y), s)), np.array(log_scale))
    h = 1e-4
    numeric = (_bits_reference(y64, scale * np.exp(h)).sum() - _bits_reference(y64, scale * np.exp(-h)).sum()) / (2 * h)
    np.testing.assert_allclose(got_scale, numeric, rtol=1e-3)


def test_rounding_passes_the_gradient_straight_through():
    x = np.array([-1.7, -0.2, 0.49, 0.51, 2.5, 3.2], "float32")
    weights = np.arange(1, 7, dtype="float32")
    np.testing.assert_array_equal(_np(ste_round(ops.convert_to_tensor(x))), np.round(x))
    np.testing.assert_allclose(gradient(lambda v: ops.sum(ste_round(v) * ops.convert_to_tensor(weights)), x), weights)


def _coded(shape=(3, 3, 4, 5), rank=2, seed=0):
    layer = keras.layers.Layer()
    transform, groups = coded_transform(shape, rank)
    keras.utils.set_random_seed(seed)
    return CodedWeight(layer, "c", transform, groups, "he_normal", log_speed=10.0)


def test_the_weight_is_the_idct_of_the_quantized_coefficients_per_spatial_frequency():
    weight = _coded()
    assert weight.group_shape == (3, 3, 1, 1) and weight.groups == 9
    coefficients = _np(weight.coefficients).astype("float64")
    # The initial step of every spatial frequency: the RMS of its coefficients / 16.
    rms = np.sqrt(np.mean(coefficients ** 2, axis=(2, 3), keepdims=True))
    np.testing.assert_allclose(weight.steps(), rms / 16, rtol=1e-5)
    quantized = weight.steps() * np.round(coefficients / weight.steps())
    expected = scipy.fft.idctn(quantized, axes=(0, 1), norm="ortho")
    np.testing.assert_allclose(_np(weight.value()), expected, atol=1e-6)
    np.testing.assert_array_equal(weight.codes(), np.round(coefficients / weight.steps()))


def test_the_rate_of_the_codes_is_their_code_length_under_each_groups_prior():
    weight = _coded(seed=2)
    codes, scales = weight.codes(), weight.scales()
    expected = np.minimum(_bits_reference(codes.astype("float64"), np.broadcast_to(scales, codes.shape)), 30).sum()
    np.testing.assert_allclose(float(_np(weight.rate_bits())), expected, rtol=1e-4)
    noisy = float(_np(weight.rate_bits(keras.random.SeedGenerator(0))))
    assert noisy != pytest.approx(expected, rel=1e-6) and abs(noisy - expected) < 0.1 * expected


def test_dense_kernels_and_biases_have_one_group_and_no_transform():
    dense = _coded((20, 7), rank=0)
    assert dense.group_shape == (1, 1) and dense.transform.is_identity
    pointwise = _coded((1, 1, 6, 4), rank=2)
    assert pointwise.group_shape == (1, 1, 1, 1) and pointwise.transform.is_identity


def test_codes_steps_and_scales_set_the_weight_exactly():
    weight = _coded()
    rng = np.random.default_rng(3)
    codes = rng.integers(-20, 21, weight.shape)
    steps = rng.uniform(0.01, 0.1, weight.group_shape).astype("float32")
    scales = rng.uniform(0.5, 4, weight.group_shape).astype("float32")
    weight.assign_codes(codes, steps, scales)
    np.testing.assert_array_equal(weight.codes(), codes)
    np.testing.assert_allclose(weight.steps(), steps, rtol=1e-6)
    np.testing.assert_allclose(weight.scales(), scales, rtol=1e-6)
