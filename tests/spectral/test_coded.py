"""The rate–distortion coding's weight (`dct_keras.spectral.coded`) against
SciPy: the rate is -log2 of the prior (a spike at zero plus a discretized
logistic) and its gradient the analytic one (also as written out for the
lagged rate), the rounding passes the gradient straight through, the weight
is the IDCT of the quantized coefficients, the initial steps follow their
rule, the training noise is uniform and the lagged rate refreshes on
request."""

import keras
import numpy as np
import pytest
import scipy.fft
import scipy.stats
from keras import ops

from dct_keras.spectral.coded import CodedWeight, coded_transform, prior_bits, prior_bits_and_gradients, quantize
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


def test_the_written_out_gradients_are_those_of_automatic_differentiation():
    rng = np.random.default_rng(4)
    y = rng.uniform(-6, 6, (30, 3)).astype("float32")
    y = y[np.all(np.abs(np.abs(y) - 0.5) > 1e-3, axis=1)]
    log_scale = np.log(np.array([0.3, 1.5, 1e-3], "float32"))  # the last at MIN_SCALE: no gradient to it
    zero_logit = np.array([-2.0, 0.5, 3.0], "float32")
    tensors = [ops.convert_to_tensor(a) for a in (y, log_scale, zero_logit)]
    bits, d_y, d_scale, d_logit = (_np(t) for t in prior_bits_and_gradients(*tensors))
    np.testing.assert_allclose(bits, _np(prior_bits(*tensors)), rtol=1e-6)
    np.testing.assert_allclose(d_y, gradient(lambda v: ops.sum(prior_bits(v, tensors[1], tensors[2])), y),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(d_scale.sum(0), gradient(lambda v: ops.sum(prior_bits(tensors[0], v, tensors[2])),
                                                        log_scale), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(d_logit.sum(0), gradient(lambda v: ops.sum(prior_bits(tensors[0], tensors[1], v)),
                                                        zero_logit), rtol=1e-4, atol=1e-5)
    assert np.all(d_scale[:, 2] == 0)


def _uncapped_bits_reference(y, scale, zero_mass):
    """-log2 P of codes outside the spike in float64 by SciPy's log survival function (the mass of
    [|y| - 1/2, |y| + 1/2], however far in the tail): the code length before the rate's cap."""
    law, far = scipy.stats.logistic(scale=scale), np.abs(y)
    log_mass = law.logsf(far - 0.5) + np.log1p(-np.exp(law.logsf(far + 0.5) - law.logsf(far - 0.5)))
    return -(np.log1p(-zero_mass) + log_mass) / np.log(2)


def test_codes_beyond_the_cap_cost_the_cap_and_keep_a_bounded_gradient_of_their_code_length():
    # A narrow prior and codes it prices far above 30 bits (a collapsing step makes them): capped in value, with the
    # gradient of 30 (1 + log(bits / 30)) (SciPy's code length b, its gradient times 30 / b), in both the automatic
    # and the written-out form: each code pulled towards zero and the prior wider, by a bounded amount.
    scale, zero_mass, h = 0.05, 0.3, 1e-4
    y = np.array([3.0, -7.5, 20.0, -2.2], "float32")
    log_scale, zero_logit = np.float32(np.log(scale)), _logit(zero_mass)
    y64 = y.astype("float64")
    uncapped = _uncapped_bits_reference(y64, scale, zero_mass)
    assert np.all(uncapped > 30)
    factor = 30 / uncapped
    tensors = [ops.convert_to_tensor(a) for a in (y, log_scale, zero_logit)]
    np.testing.assert_allclose(_np(prior_bits(*tensors)), 30.0)
    expected_y = factor * (_uncapped_bits_reference(y64 + h, scale, zero_mass)
                           - _uncapped_bits_reference(y64 - h, scale, zero_mass)) / (2 * h)
    expected_scale = factor * (_uncapped_bits_reference(y64, scale * np.exp(h), zero_mass)
                               - _uncapped_bits_reference(y64, scale * np.exp(-h), zero_mass)) / (2 * h)
    bits, d_y, d_scale, d_logit = (_np(t) for t in prior_bits_and_gradients(*tensors))
    np.testing.assert_allclose(bits, 30.0)
    for got_y, got_scale in [(d_y, d_scale),
                             (gradient(lambda v: ops.sum(prior_bits(v, tensors[1], tensors[2])), y),
                              gradient(lambda v: ops.sum(prior_bits(tensors[0], v, tensors[2])), np.full(4, log_scale)))]:
        np.testing.assert_allclose(got_y, expected_y, rtol=1e-3)
        np.testing.assert_allclose(got_scale, expected_scale, rtol=1e-3)
    assert np.all(np.sign(d_y) == np.sign(y)) and np.all(d_scale < 0)
    assert np.all(np.abs(d_scale) < 45) and np.all(np.abs(d_y * y) < 45)  # bounded: ~30 / ln 2, not ~|y| / scale
    np.testing.assert_allclose(d_logit, factor * zero_mass / np.log(2), rtol=1e-5)  # -d log2(1 - mass) / d logit


def test_quantizing_passes_the_gradient_straight_through_to_coefficients_and_steps():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (3, 4, 5)).astype("float32")
    log_step = np.log(rng.uniform(0.1, 0.5, (3, 1, 1))).astype("float32")
    weights = ops.convert_to_tensor(rng.normal(0, 1, x.shape).astype("float32"))
    step = np.exp(log_step)
    np.testing.assert_allclose(_np(quantize(ops.convert_to_tensor(x), ops.convert_to_tensor(log_step), (0,))),
                               step * np.round(x / step), rtol=1e-6)
    # Against automatic differentiation of the straight-through form step * (x + stop_gradient(round(x) - x)).
    def reference(c, s):
        scaled = c / ops.exp(s)
        return ops.sum(ops.exp(s) * (scaled + ops.stop_gradient(ops.round(scaled) - scaled)) * weights)
    def written(c, s):
        return ops.sum(quantize(c, s, (0,)) * weights)
    for argument in (0, 1):
        fix = (ops.convert_to_tensor(x), ops.convert_to_tensor(log_step))
        expected = gradient(lambda v: reference(*(v if i == argument else fix[i] for i in (0, 1))), (x, log_step)[argument])
        got = gradient(lambda v: written(*(v if i == argument else fix[i] for i in (0, 1))), (x, log_step)[argument])
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gradient(lambda v: written(v, ops.convert_to_tensor(log_step)), x), _np(weights))


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
    noisy = float(_np(weight.rate_bits(ops.convert_to_tensor(0.3))))
    assert noisy != pytest.approx(expected, rel=1e-6) and abs(noisy - expected) < 0.1 * expected


def test_the_training_noise_is_uniform_over_the_coefficients():
    weight = _coded((5, 5, 40, 50))
    for shift in (0.0, 0.37, 0.99):
        noise = _np(weight.noise(ops.convert_to_tensor(shift))).ravel()
        assert noise.min() >= -0.5 and noise.max() < 0.5
        # The golden-ratio sequence: every tenth of (-1/2, 1/2) holds a tenth of the 50,000 values, to 0.1 %.
        counts = np.histogram(noise, bins=10, range=(-0.5, 0.5))[0]
        np.testing.assert_allclose(counts / noise.size, 0.1, atol=1e-3)
    index = np.arange(weight.size)
    difference = _np(weight.noise(ops.convert_to_tensor(0.25))).ravel() - (np.mod(index * (np.sqrt(5) - 1) / 2 + 0.25, 1) - 0.5)
    np.testing.assert_allclose(np.abs(difference - np.round(difference)), 0, atol=1e-6)  # equal modulo 1


def test_the_lagged_rate_refreshes_its_value_and_gradient_on_request():
    layer = keras.layers.Layer()
    transform, groups = coded_transform((3, 3, 4, 5), 2)
    keras.utils.set_random_seed(6)
    weight = CodedWeight(layer, "c", transform, groups, "he_normal", log_speed=10.0, lagged=True)
    shift = ops.convert_to_tensor(0.6)
    fresh = float(_np(weight.lagged_rate_bits(ops.convert_to_tensor(True), shift)))
    np.testing.assert_allclose(fresh, float(_np(weight.rate_bits(shift))), rtol=1e-5)
    expected = _gradients(weight, lambda: weight.rate_bits(shift))
    weight.coefficients.assign(_np(weight.coefficients) * 1.5)  # a training step later: the rate has changed
    stale = lambda: weight.lagged_rate_bits(ops.convert_to_tensor(False), ops.convert_to_tensor(0.1))  # noqa: E731
    np.testing.assert_allclose(float(_np(stale())), fresh, rtol=1e-6)
    for got, want in zip(_gradients(weight, stale), expected):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
    refreshed = float(_np(weight.lagged_rate_bits(ops.convert_to_tensor(True), shift)))
    np.testing.assert_allclose(refreshed, float(_np(weight.rate_bits(shift))), rtol=1e-5)
    assert refreshed != pytest.approx(fresh, rel=1e-3)


def _gradients(weight, fn):
    """The gradients of ``fn()`` with respect to the weight's rate variables (TensorFlow's tape, JAX's
    stateless call or PyTorch's autograd)."""
    variables = weight.rate_variables
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = fn()
        return [g.numpy() for g in tape.gradient(value, [v.value for v in variables])]
    if backend == "torch":
        for v in variables:
            v.value.grad = None
        fn().backward()
        return [v.value.grad.cpu().numpy() for v in variables]
    import jax

    def stateless(values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return fn()
    return [np.asarray(g) for g in jax.grad(stateless)([v.value for v in variables])]


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
