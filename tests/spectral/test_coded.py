"""The rate–distortion coding's weight (`dct_keras.spectral.coded`) against
SciPy: the rate is -log2 of the prior (a spike at zero plus a discretized
logistic) and its gradient the analytic one, the rounding passes the gradient straight through, the weight
is the IDCT of the quantized coefficients, the initial steps follow their
rule."""

import keras
import numpy as np
import pytest
import scipy.fft
import scipy.stats
from keras import ops

from dct_keras.spectral.coded import CodedWeight, coded_transform, prior_bits, ste_round
from tests.autodiff import gradient


def _np(x):
    return ops.convert_to_numpy(x)


def _bits_reference(y, scale, zero_mass=0.0):
    """-log2 of the prior's density of the noisy codes: the spike's mass on (-1/2, 1/2), the rest on SciPy's
    logistic mass of [y - 1/2, y + 1/2]."""
    cdf = scipy.stats.logistic(scale=scale).cdf
    probability = zero_mass * (np.abs(y) < 0.5) + (1 - zero_mass) * (cdf(y + 0.5) - cdf(y - 0.5))
    with np.errstate(divide="ignore"):  # a probability that underflows: infinite bits, floored by the caller
        return -np.log2(probability)


def _logit(p):
    return np.float32(np.log(p / (1 - p)))


@pytest.mark.parametrize("scale,zero_mass", [(0.05, 0.01), (0.7, 0.3), (4.0, 0.95), (2.0, 1e-6)])
def test_the_rate_is_minus_log2_of_the_spike_and_discretized_logistic(scale, zero_mass):
    y = np.concatenate([np.arange(-12, 13), np.random.default_rng(0).uniform(-9, 9, 50)]).astype("float32")
    got = _np(prior_bits(ops.convert_to_tensor(y), ops.convert_to_tensor(np.float32(np.log(scale))),
                         ops.convert_to_tensor(_logit(zero_mass))))
    expected = np.minimum(_bits_reference(y.astype("float64"), scale, zero_mass), 30.0)  # 2^-30: the rate's floor
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-4)


def test_the_rates_gradient_is_the_analytic_one():
    scale, zero_mass = 1.3, 0.4
    y = np.random.default_rng(1).uniform(-5, 5, 40).astype("float32")
    y = y[np.abs(np.abs(y) - 0.5) > 1e-3]  # the spike's edges: no derivative
    log_scale, zero_logit = np.float32(np.log(scale)), _logit(zero_mass)
    got = gradient(lambda v: ops.sum(prior_bits(v, log_scale, zero_logit)), y)
    # d/dy -log2(P) = -(1 - pi) (f(y + 1/2) - f(y - 1/2)) / (P ln 2), P the density of the noisy code
    law = scipy.stats.logistic(scale=scale)
    y64 = y.astype("float64")
    density = zero_mass * (np.abs(y64) < 0.5) + (1 - zero_mass) * (law.cdf(y64 + 0.5) - law.cdf(y64 - 0.5))
    expected = -(1 - zero_mass) * (law.pdf(y64 + 0.5) - law.pdf(y64 - 0.5)) / (density * np.log(2))
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
    h = 1e-4
    got_scale = gradient(lambda s: ops.sum(prior_bits(ops.convert_to_tensor(y), s, zero_logit)), np.array(log_scale))
    numeric = (_bits_reference(y64, scale * np.exp(h), zero_mass).sum()
               - _bits_reference(y64, scale * np.exp(-h), zero_mass).sum()) / (2 * h)
    np.testing.assert_allclose(got_scale, numeric, rtol=1e-3)
    got_logit = gradient(lambda z: ops.sum(prior_bits(ops.convert_to_tensor(y), log_scale, z)), np.array(zero_logit))
    mass = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    numeric = (_bits_reference(y64, scale, mass(zero_logit + h)).sum()
               - _bits_reference(y64, scale, mass(zero_logit - h)).sum()) / (2 * h)
    np.testing.assert_allclose(got_logit, numeric, rtol=3e-3)


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
    zero_mass = 1 / (1 + np.exp(-weight.zero_logits().astype("float64")))
    np.testing.assert_allclose(zero_mass, 0.01, rtol=1e-5)  # the initial spike
    expected = np.minimum(_bits_reference(codes.astype("float64"), np.broadcast_to(scales, codes.shape),
                                          np.broadcast_to(zero_mass, codes.shape)), 30).sum()
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
    logits = rng.uniform(-3, 3, weight.group_shape).astype("float32")
    weight.assign_codes(codes, steps, scales, logits)
    np.testing.assert_allclose(weight.zero_logits(), logits, rtol=1e-6)
    np.testing.assert_array_equal(weight.codes(), codes)
    np.testing.assert_allclose(weight.steps(), steps, rtol=1e-6)
    np.testing.assert_allclose(weight.scales(), scales, rtol=1e-6)
