"""`CodedWeight`: a weight trained under its own code length (rate–distortion).

The weight is ``w = IDCT(step * round(coefficients / step))``: DCT
coefficients (over the kernel's spatial axes; none for dense and 1x1
kernels and for biases) quantized to a learned step, one step per *group*
(a spatial frequency of a kernel, or the whole tensor). The integer codes
``round(coefficients / step)`` are what ships; their probability model (the
*prior*) is, per group, a spike at zero of learned mass plus a zero-centred
logistic of learned scale discretized to unit bins (a compressed network's
codes are mostly zero with a wide tail, which one logistic cannot fit), and
the code length it gives, ``-log2 P(code)`` summed, is the *rate* a layer
adds to its loss (`rate_bits`). `dct_keras.entropy.logistic_table`
turns the same model into the integer tables the shipped file is coded
with, so the rate predicts the file's weight bytes.

As in entropy-penalized reparameterization (Oktay et al., ICLR 2020), the
rounding passes the gradient straight through and the training rate is the
code length of the coefficients plus uniform noise in (-1/2, 1/2) step
(the discretized density is then smooth in them). Unlike it, the variable
holds the coefficients in the weight's units and the step divides them (as
learned step size quantization, Esser et al. 2020): the rate's gradient
reaches the step too, and an optimizer's update moves a coefficient by a
fraction of a step, not of an integer code, so a short fine-tune can cross
rounding boundaries.

The rate costs about a third of a LeNet-5 training step (fc1's 400,500
coefficients through the prior, forward and backward), so a training call
can refresh it only every few steps (`lagged_rate_bits`): the refresh
computes the rate and its gradient written out (`prior_bits_and_gradients`,
no automatic differentiation, so it can run inside a conditional), keeps
both in transient variables, and every step adds a term whose value is the
last rate and whose gradient is the last gradient. The training noise is
the shifted golden-ratio sequence ``frac(i * GOLDEN + shift) - 1/2`` over
the coefficients' flat index ``i``, ``shift`` uniform in (0, 1) per call:
every coefficient's noise is uniform, at the cost of one scalar draw.
"""

import numpy as np
from keras import ops, random

from dct_keras.spectral.bases import SpectralTransform

# Initial step of a group: the root mean square of its coefficients / 16
# (quantization error ~1/55 of the values: the converted network keeps its
# accuracy); an all-zero group (a zero-initialized bias) starts at 2^-10.
STEP_DIVISOR = 16.0
EMPTY_STEP = 2.0 ** -10
# The logistic's scale is its standard deviation * sqrt(3) / pi.
LOGISTIC_SCALE = np.sqrt(3.0) / np.pi
# A code costs at most 30 bits in the rate (an escaped code's cost in a shipped file is 32 bits).
MAX_BITS = 30.0
# The smallest scale of a prior (in steps; nearly every code zero): below it the rate's gradient is 0 / 0.
MIN_SCALE = 2.0 ** -8
# The spike's initial mass (the logistic fits the initial codes).
INITIAL_ZERO_MASS = 0.01
# The golden ratio's fractional part: frac(i * GOLDEN) spreads i = 0, 1, ... evenly over (0, 1).
GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def quantize(coefficients, log_step, group_axes):
    """``step * round(coefficients / step)``, ``step = exp(log_step)``
    (broadcast over the axes not in ``group_axes``), rounding straight
    through, its gradient written out: the identity to ``coefficients``,
    ``quantized - coefficients`` summed over the other axes to ``log_step``
    (as automatic differentiation of ``step * (x + stop_gradient(round(x) -
    x))``, ``x = coefficients / step``, gives, in fewer operations)."""
    other = tuple(axis for axis in range(len(coefficients.shape)) if axis not in group_axes)

    @ops.custom_gradient
    def forward(values, log_steps):
        step = ops.cast(ops.exp(log_steps), values.dtype)
        quantized = step * ops.round(values / step)

        def gradient(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            error = ops.cast(upstream * (quantized - values), "float32")
            return upstream, ops.sum(error, axis=other, keepdims=True)

        return quantized, gradient

    return forward(coefficients, log_step)


def _log_probability_terms(y, log_scale, zero_logit):
    """The pieces of ``log P(y)`` (natural log) under the prior of the noisy
    codes, in the log domain (no probability underflows, so every code has a
    gradient, however far in the tail): ``(log P, tail weight, d log L /
    d tail, d log L / d scale, scale, spike)``. ``L``, the logistic's mass of
    ``[y - 1/2, y + 1/2]`` at ``tail = -|y|``, is ``sigmoid(a) sigmoid(-b)
    (1 - exp(b - a))``, ``a, b = (tail +- 1/2) / scale``; the tail weight is
    the share of ``P`` outside the spike."""
    scale = ops.maximum(ops.exp(log_scale), MIN_SCALE)
    tail = -ops.abs(y)  # the logistic is symmetric: the lower tail keeps float32 precision
    upper, lower = (tail + 0.5) / scale, (tail - 0.5) / scale
    log_logistic = ops.log_sigmoid(upper) + ops.log_sigmoid(-lower) + ops.log(-ops.expm1(-1.0 / scale))
    log_tail = ops.log_sigmoid(-zero_logit) + log_logistic
    spike = ops.cast(tail > -0.5, y.dtype)
    log_probability = log_tail + spike * (ops.logaddexp(ops.log_sigmoid(zero_logit), log_tail) - log_tail)
    d_tail = (ops.sigmoid(-upper) - ops.sigmoid(lower)) / scale
    d_scale = (ops.sigmoid(lower) * lower - ops.sigmoid(-upper) * upper) / scale \
        - 1.0 / (ops.square(scale) * ops.expm1(1.0 / scale))
    return log_probability, ops.exp(log_tail - log_probability), d_tail, d_scale, scale, spike


def _cap_factor(bits):
    """1, or ``MAX_BITS / bits`` for a code beyond the cap: the factor of the
    gradient of a capped code length (no gradient)."""
    bits = ops.stop_gradient(bits)
    return ops.where(bits > MAX_BITS, MAX_BITS / ops.maximum(bits, MAX_BITS), 1.0)


def _capped(bits):
    """``bits`` at most `MAX_BITS` (what an escaped code costs) with the
    gradient of ``MAX_BITS * (1 + log(bits / MAX_BITS))`` beyond the cap: a
    code there still pulls its prior wider and itself towards zero, but by a
    bounded amount however far out it is (with no gradient, a group whose
    codes all pass the cap, as a collapsing step makes them, is stuck; with
    the uncapped one, ResNet-20 at lambda 8 blew its scales up to NaN)."""
    factor = _cap_factor(bits)
    return factor * bits + ops.stop_gradient(ops.minimum(bits, MAX_BITS) - factor * bits)


def prior_bits(y, log_scale, zero_logit):
    """``-log2 P(y)`` elementwise under the prior of the noisy codes: the
    spike at zero of mass ``sigmoid(zero_logit)`` spread over
    ``(-1/2, 1/2)``, plus the rest of the mass times that of
    ``[y - 1/2, y + 1/2]`` under a zero-centred logistic of scale
    ``exp(log_scale)``, at least `MIN_SCALE` (at an integer ``y``, the
    discretized prior's probability of that code); at most `MAX_BITS`
    (`_capped`)."""
    log_probability = _log_probability_terms(y, log_scale, zero_logit)[0]
    return _capped(-log_probability / np.log(2.0))


def prior_bits_and_gradients(y, log_scale, zero_logit):
    """`prior_bits` and its partial derivatives, written out: ``(bits,
    d bits / d y, d bits / d log_scale, d bits / d zero_logit)``, elementwise
    (broadcast to ``y``'s shape; no gradient to a scale at `MIN_SCALE`)."""
    raw_scale = ops.exp(log_scale)
    log_probability, weight, d_tail, d_scale, scale, spike = _log_probability_terms(y, log_scale, zero_logit)
    uncapped = -log_probability / np.log(2.0)
    bits, to_bits = ops.minimum(uncapped, MAX_BITS), -_cap_factor(uncapped) / np.log(2.0)  # d bits / d log P
    d_y = to_bits * weight * d_tail * -ops.sign(y)
    d_log_scale = ops.where(raw_scale > MIN_SCALE, to_bits * weight * d_scale * scale, 0.0)
    # d log P / d zero_logit: the spike's share times d log sigmoid(z) = sigmoid(-z), the tail's times -sigmoid(z).
    d_zero_logit = to_bits * ((1.0 - weight) * spike * ops.sigmoid(-zero_logit) - weight * ops.sigmoid(zero_logit))
    return bits, d_y, d_log_scale, d_zero_logit


def lagged(bits, gradients, *values):
    """``bits`` (a scalar) as a function of ``values`` whose gradient with
    respect to them is ``gradients`` (times the upstream gradient), whatever
    the values are now."""
    bits, gradients = ops.stop_gradient(bits), tuple(ops.stop_gradient(g) for g in gradients)

    @ops.custom_gradient
    def forward(*_):
        def gradient(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            return tuple(upstream * g for g in gradients)

        return bits, gradient

    return forward(*values)


class CodedWeight:
    """A weight of a Keras layer coded as per-group quantized DCT coefficients
    with a learned probability model (see the module docstring).

    Variables, created on ``layer``: ``<name>`` (trainable, the weight's
    shape: the coefficients), ``<name>_log_step``, ``<name>_log_scale`` and
    ``<name>_zero_logit`` (trainable, ``group_shape``: the weight's shape
    with 1 on every axis not in ``group_axes``), holding
    ``log(step) / log_speed``, ``log(scale) / log_speed`` and the logit of
    the spike's mass ``/ log_speed``.

    Args:
        layer: the Keras layer that owns the variables.
        name: variable name of the coefficients.
        transform: a `SpectralTransform` for the weight's shape.
        group_axes: the axes along which steps and priors differ (the
            transformed spatial axes of a kernel: one group per frequency).
        initializer: initializer of the coefficients.
        regularizer: optional regularizer of the coefficients.
        log_speed: float > 0: an optimizer whose update size does not follow
            the gradient's (Adam) moves the logarithms of the steps and
            scales ``log_speed`` times faster than with 1 (they must follow
            the coefficients' statistics within a short training); one whose
            update does (SGD) ``log_speed ** 2`` times.
        lagged: whether the weight keeps the variables of `lagged_rate_bits`.
    """

    def __init__(self, layer, name, transform, group_axes, initializer, regularizer=None, log_speed=1.0,
                 lagged=False):
        self.shape = transform.shape
        self.log_speed = float(log_speed)
        self.transform = transform
        self.group_axes = tuple(group_axes)
        self.group_shape = tuple(n if axis in self.group_axes else 1 for axis, n in enumerate(self.shape))
        self.coefficients = layer.add_weight(name=name, shape=self.shape, initializer=initializer,
                                             regularizer=regularizer, trainable=True, dtype=layer.dtype)
        self.log_step = layer.add_weight(name=f"{name}_log_step", shape=self.group_shape, initializer="zeros",
                                         trainable=True, dtype="float32", autocast=False)
        self.log_scale = layer.add_weight(name=f"{name}_log_scale", shape=self.group_shape, initializer="zeros",
                                          trainable=True, dtype="float32", autocast=False)
        self.zero_logit = layer.add_weight(name=f"{name}_zero_logit", shape=self.group_shape, initializer="zeros",
                                           trainable=True, dtype="float32", autocast=False)
        # The last refresh of the lagged rate: its bits and its gradients (transient: not saved or shipped).
        self.rate_cache = tuple(layer.add_weight(name=f"{name}_rate_{part}", shape=shape, initializer="zeros",
                                                 trainable=False, dtype="float32", autocast=False)
                                for part, shape in (("bits", ()), ("coefficients", self.shape),
                                                    ("log_step", self.group_shape), ("log_scale", self.group_shape),
                                                    ("zero_logit", self.group_shape))) if lagged else ()
        self.golden = None
        self.fit_groups()

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def groups(self):
        return int(np.prod(self.group_shape, dtype=np.int64))

    def _scaled(self):
        """The coefficients in units of their step (differentiable)."""
        coefficients = ops.convert_to_tensor(self.coefficients)
        return coefficients / ops.cast(ops.exp(self.log_speed * self.log_step), coefficients.dtype)

    def value(self, perturb=None):
        """The weight ``IDCT(step * round(coefficients / step))``, rounding
        straight-through (``perturb``: unused, the protocol of the spectral
        weights)."""
        # ops.cast reads the variables here: a custom gradient refuses variables read inside it.
        log_step = self.log_speed * ops.cast(self.log_step, "float32")
        coefficients = ops.cast(self.coefficients, self.coefficients.dtype)
        return self.transform.inverse(quantize(coefficients, log_step, self.group_axes))

    def noise(self, shift):
        """The training noise ``frac(i * GOLDEN + shift) - 1/2`` over the
        flat index ``i`` (the weight's shape, float32)."""
        if self.golden is None:  # frac(i * GOLDEN) in float64: float32 would lose it at large i
            self.golden = np.mod(np.arange(self.size) * GOLDEN, 1.0).astype("float32").reshape(self.shape)
        return ops.mod(ops.convert_to_tensor(self.golden) + shift, 1.0) - 0.5

    def rate_bits(self, shift=None):
        """The code length of the weight in bits under its probability model:
        of the rounded codes, or (``shift``: a scalar uniform in (0, 1), a
        training step) of the coefficients plus `noise` (differentiable)."""
        scaled = ops.cast(self._scaled(), "float32")
        scaled = ops.round(scaled) if shift is None else scaled + self.noise(shift)
        return ops.sum(prior_bits(scaled, self.log_speed * self.log_scale, self.log_speed * self.zero_logit))

    def rate_and_gradients(self, shift):
        """The noisy rate (`rate_bits`) and its gradients with respect to
        `rate_variables`, written out (`prior_bits_and_gradients`)."""
        speed = self.log_speed
        scaled = ops.cast(self._scaled(), "float32")
        bits, d_y, d_log_scale, d_zero_logit = prior_bits_and_gradients(
            scaled + self.noise(shift), speed * ops.convert_to_tensor(self.log_scale),
            speed * ops.convert_to_tensor(self.zero_logit))
        other = tuple(axis for axis in range(len(self.shape)) if axis not in self.group_axes)
        step = ops.exp(speed * ops.convert_to_tensor(self.log_step))
        # y = coefficients / step + noise: d y / d coefficients = 1 / step, d y / d log_step = -speed * coefficients / step.
        gradients = (d_y / step, ops.sum(-speed * d_y * scaled, axis=other, keepdims=True),
                     speed * ops.sum(d_log_scale, axis=other, keepdims=True),
                     speed * ops.sum(d_zero_logit, axis=other, keepdims=True))
        return ops.sum(bits), gradients

    @property
    def rate_variables(self):
        """The variables the rate depends on: coefficients, log step, log scale, zero logit."""
        return (self.coefficients,) + self.prior_variables

    def lagged_rate_bits(self, refresh, shift):
        """A term whose value is the noisy rate and whose gradient its
        gradient, both as of the last call with ``refresh`` true (a boolean
        scalar; that call recomputes them with ``shift``). Transient
        variables (`rate_cache`) keep them between calls."""
        def fresh():
            bits, gradients = self.rate_and_gradients(shift)
            return (bits, *gradients)

        cached = tuple(ops.convert_to_tensor(v) for v in self.rate_cache)
        values = ops.cond(refresh, fresh, lambda: cached)
        for variable, value in zip(self.rate_cache, values):
            variable.assign(value)
        # ops.cast reads the variables here: a custom gradient refuses variables read inside it.
        return lagged(values[0], values[1:], *(ops.cast(v, "float32") for v in self.rate_variables))

    @property
    def prior_variables(self):
        """The variables of the steps and the prior (stored with the codes)."""
        return (self.log_step, self.log_scale, self.zero_logit)

    # ----------------------------------------------------------------- NumPy
    def codes(self):
        """The integer codes ``round(coefficients / step)`` (int64 NumPy)."""
        return np.rint(ops.convert_to_numpy(self._scaled())).astype(np.int64)

    def steps(self):
        """The steps per group (float32 NumPy, ``group_shape``)."""
        return np.exp(self.log_speed * ops.convert_to_numpy(self.log_step)).astype("float32")

    def scales(self):
        """The priors' scales per group, in steps, at least `MIN_SCALE`
        (float32 NumPy, ``group_shape``)."""
        return np.maximum(np.exp(self.log_speed * ops.convert_to_numpy(self.log_scale)), MIN_SCALE).astype("float32")

    def zero_logits(self):
        """The logits of the spikes' masses per group (float32 NumPy, ``group_shape``)."""
        return (self.log_speed * ops.convert_to_numpy(self.zero_logit)).astype("float32")

    def fit_groups(self):
        """Sets every group's step and prior from its coefficients:
        step = RMS / `STEP_DIVISOR` (`EMPTY_STEP` for an all-zero group),
        prior scale = the codes' RMS * sqrt(3) / pi (at least that of 1),
        the spike's mass `INITIAL_ZERO_MASS`."""
        coefficients = ops.convert_to_numpy(self.coefficients).astype(np.float64)
        other = tuple(axis for axis in range(len(self.shape)) if axis not in self.group_axes)
        rms = np.sqrt(np.mean(np.square(coefficients), axis=other, keepdims=True))
        step = np.where(rms > 0, rms / STEP_DIVISOR, EMPTY_STEP)
        self.log_step.assign((np.log(step) / self.log_speed).astype("float32"))
        self.log_scale.assign((np.log(np.maximum(rms / step, 1.0) * LOGISTIC_SCALE) / self.log_speed).astype("float32"))
        logit = np.log(INITIAL_ZERO_MASS / (1 - INITIAL_ZERO_MASS))
        self.zero_logit.assign(np.full(self.group_shape, logit / self.log_speed, "float32"))

    def assign_spatial(self, weight):
        """Sets the coefficients to the DCT of a spatial weight, and the steps
        and priors to fit them (`fit_groups`)."""
        weight = np.asarray(weight, dtype="float32")
        if weight.shape != self.shape:
            raise ValueError(f"Weight shape {weight.shape} does not match {self.shape}.")
        self.coefficients.assign(ops.convert_to_numpy(self.transform.forward(weight)))
        self.fit_groups()

    def assign_codes(self, codes, steps, scales, zero_logits):
        """Sets the weight from decoded integer codes, steps and priors (a
        shipped file's content): coefficients = codes * step."""
        steps = np.asarray(steps, "float32").reshape(self.group_shape)
        self.coefficients.assign((np.asarray(codes).reshape(self.shape) * steps).astype("float32"))
        self.log_step.assign(np.log(steps) / self.log_speed)
        self.log_scale.assign(np.log(np.asarray(scales, "float32").reshape(self.group_shape)) / self.log_speed)
        self.zero_logit.assign(np.asarray(zero_logits, "float32").reshape(self.group_shape) / self.log_speed)


def coded_transform(kernel_shape, rank):
    """``(transform, group axes)`` of a kernel with ``rank`` leading spatial
    axes: the 2-D DCT of every spatial slice, one group per spatial
    frequency, when the spatial extent exceeds 1; no transform and one group
    for dense and 1x1 kernels (and biases: ``rank`` 0)."""
    if any(size > 1 for size in kernel_shape[:rank]):
        axes = tuple(range(rank))
        return SpectralTransform(kernel_shape, axes), axes
    return SpectralTransform(kernel_shape, ()), ()
