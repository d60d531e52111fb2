"""How each family codes a layer's kernel: one small object per family.

A spectral layer holds one *coding* (``layer.coding``): it validates the
family's arguments, knows the transform for a kernel shape and layout and
the initial mask, builds the layer's weights (as variables of that layer) and
serializes its arguments (the layer's config carries them flat, so a saved
layer reads ``{"switch_off": 0.5, ...}`` beside the Keras layer's keys).

* `DCTCoding` – DCT-Conv (dct_conv.txt) and CTNet's channel form
  (ctnet_h265.txt): a fixed switch-off mask, optional training perturbations;
* `FreqRegCoding` – Frequency Regularization (frequency_regularization.txt):
  zigzag tail masks on kernel and bias;
* `ReorderCoding` – reorder-DCT (reorder_dct_compression.txt): the kernel as
  truncated DCT rows of a column-reordered matrix;
* `RateDistortionCoding` – rate–distortion training: quantized DCT
  coefficients with learned steps and probability models, whose code length
  is a loss (`dct_keras.spectral.coded`).

Harmonic blocks' fixed filter bank is `dct_keras.spectral.harmonic.HarmonicBank`.

The masked families' ``channel_transform`` ("auto", "kernel", "activations")
says where the DCT of the kernel's channel axes runs (`spectral.channels`):
the results are the same either way.

The ``layout`` a coding builds for describes the Keras kernel: ``rank`` leading
spatial axes, ``input_axis`` / ``output_axis`` (which kernel axis holds the
input / output channels) and ``paper_axes`` (the transpose to the papers'
(out, in, spatial...) order).
"""

import numbers

import keras
import numpy as np

from dct_keras.spectral.bases import SpectralTransform
from dct_keras.spectral.channels import CHANNEL_TRANSFORMS
from dct_keras.spectral.coded import CodedWeight, coded_transform
from dct_keras.spectral.masks import SWITCH_OFF_POLICIES, check_probability, kept_count, switch_off_mask, tail_mask
from dct_keras.spectral.perturb import perturb
from dct_keras.spectral.weight import ReorderedWeight, SpectralWeight

POINTWISE_MODES = ("channel_dct", "channel_block_dct2d", "none")


class Coding:
    """What every family's coding shares: its arguments (``arguments``, in
    config order), their config, and the layer arguments it cannot honour."""

    family = None
    arguments = ()
    # Arguments of the Keras layer that this family's layers refuse unless
    # left at Keras's default, and those `convert` resets (dropped) when it
    # builds such a layer from a plain one.
    unhonoured_arguments = ()
    dropped_from_plain = ()
    # Attributes of the built kernel weight that the layer exposes as its own.
    kernel_attributes = ()
    # The argument holding a per-layer random seed (drawn by `convert` when not given), if any.
    seed_argument = None

    def get_config(self):
        return {name: getattr(self, name) for name in self.arguments}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def build_bias(self, layer, size):
        """A plain bias variable of ``layer`` (None without a bias)."""
        return plain_bias(layer, size) if layer.use_bias else None

    def perturbation(self, layer):
        """The function perturbing the kernel's coefficients in a training
        call (None: no perturbation)."""
        return None

    def training_loss(self, layer):
        """A loss the layer adds in a training call (None: none)."""
        return None

    def transient_variables(self, layer):
        """Variables of ``layer`` that only a training run uses (not saved,
        shipped or counted as parameters)."""
        return []


class DCTCoding(Coding):
    """DCT-Conv's coding: ``kernel = IDCT(coefficients * mask)``.

    Transform (dct_conv.txt §IV-A): kernels with a spatial extent larger
    than 1 get the 2-D IDCT of every spatial slice; 1x1 and dense kernels get,
    by ``pointwise``, a 1-D IDCT over consecutive sub-rows of
    ``pointwise_block`` input channels (``"channel_dct"``), CTNet's 2-D DCT
    over (input, output) channels in ``pointwise_block`` squares
    (``"channel_block_dct2d"``), or none (``"none"``); a shorter last block
    gets its own DCT. The mask switches off exactly ``round(switch_off * n)``
    coefficients (seeded random or the zigzag tail) before training.

    Training perturbations (CTNet's recipe, `dct_keras.spectral.perturb`; all
    off by default): ``training_noise`` (the step ``q`` of the noise
    ``u q``), ``coefficient_dropout`` (rate) and ``training_bits`` (export-aware
    rounding with a straight-through gradient).
    """

    family = "dct"
    seed_argument = "mask_seed"
    arguments = ("switch_off", "switch_off_policy", "mask_seed", "pointwise", "pointwise_block", "training_noise",
                 "coefficient_dropout", "training_bits", "channel_transform")

    def __init__(self, switch_off=0.0, switch_off_policy="random", mask_seed=None, pointwise="channel_dct",
                 pointwise_block=16, training_noise=0.0, coefficient_dropout=0.0, training_bits=0,
                 channel_transform="auto"):
        check_probability(switch_off, "switch_off")
        if mask_seed is not None:
            check_int(mask_seed, "mask_seed", 0, "None or a non-negative integer")
        check_choice(switch_off_policy, "switch_off_policy", SWITCH_OFF_POLICIES)
        check_choice(pointwise, "pointwise", POINTWISE_MODES)
        check_int(pointwise_block, "pointwise_block", 1)
        check_choice(channel_transform, "channel_transform", CHANNEL_TRANSFORMS)
        if isinstance(training_noise, bool) or not isinstance(training_noise, numbers.Real) or not training_noise >= 0:
            raise ValueError("Invalid value for argument `training_noise`: expected a number >= 0 (the quantization "
                             f"step q), received {training_noise!r}.")
        if isinstance(coefficient_dropout, bool) or not isinstance(coefficient_dropout, numbers.Real) \
                or not 0 <= coefficient_dropout < 1:
            raise ValueError("Invalid value for argument `coefficient_dropout`: expected a number in [0, 1), "
                             f"received {coefficient_dropout!r}.")
        if isinstance(training_bits, bool) or not isinstance(training_bits, numbers.Integral) \
                or not (training_bits == 0 or 2 <= training_bits <= 16):
            raise ValueError("Invalid value for argument `training_bits`: expected 0 (off) or an integer in [2, 16], "
                             f"received {training_bits!r}.")
        self.switch_off = float(switch_off)
        self.switch_off_policy = switch_off_policy
        # An unseeded coding draws its seed now (from NumPy's global generator,
        # which `keras.utils.set_random_seed` seeds) and records it in its
        # config, so the mask is reproducible from the saved model.
        self.mask_seed = int(np.random.randint(0, 2**31 - 1)) if mask_seed is None else int(mask_seed)
        self.pointwise = pointwise
        self.pointwise_block = int(pointwise_block)
        self.training_noise = float(training_noise)
        self.coefficient_dropout = float(coefficient_dropout)
        self.training_bits = int(training_bits)
        self.channel_transform = channel_transform

    def transform(self, kernel_shape, layout):
        if any(size > 1 for size in kernel_shape[: layout.rank]):
            return SpectralTransform(kernel_shape, tuple(range(layout.rank)))
        inputs, outputs = layout.input_axis, layout.output_axis
        if self.pointwise == "channel_dct":
            return SpectralTransform(kernel_shape, (inputs,), {inputs: self.pointwise_block})
        if self.pointwise == "channel_block_dct2d":
            return SpectralTransform(kernel_shape, tuple(sorted((inputs, outputs))),
                                     {inputs: self.pointwise_block, outputs: self.pointwise_block})
        return SpectralTransform(kernel_shape, ())

    def initial_mask(self, transform):
        return switch_off_mask(transform.shape, self.switch_off, self.mask_seed, self.switch_off_policy,
                               level=transform.frequency_level())

    def build_kernel(self, layer, kernel_shape, layout):
        transform = self.transform(kernel_shape, layout)
        return SpectralWeight(layer, "coefficients", transform, self.initial_mask(transform),
                              initializer=layer.kernel_initializer, regularizer=layer.kernel_regularizer,
                              constraint=layer.kernel_constraint)

    @property
    def perturbed(self):
        return bool(self.training_noise or self.coefficient_dropout or self.training_bits)

    def seed_generator(self):
        """The generator of the training perturbations' random draws (None
        when there are none); the layer owns it (Keras tracks its state)."""
        return keras.random.SeedGenerator(self.mask_seed) if self.perturbed else None

    def perturbation(self, layer):
        if not self.perturbed:
            return None
        return lambda c: perturb(c, layer.perturbation_seed, self.training_noise, self.coefficient_dropout,
                                 self.training_bits)


class FreqRegCoding(Coding):
    """Frequency Regularization's coding: kernel and (with ``spectral_bias``)
    bias are IDCTs of masked coefficients, over ``transform_axes`` (None: all
    axes, as in the paper's experiments); each mask keeps the zigzag-lowest
    ``round(kept_fraction * n)`` coefficients (ordered by the L1 norm of their
    index vector, ties by flat index). `dct_keras.callbacks.TailDropout`
    shrinks it during training (dynamic tail-dropout)."""

    family = "freqreg"
    arguments = ("kept_fraction", "transform_axes", "spectral_bias", "channel_transform")

    def __init__(self, kept_fraction=1.0, transform_axes=None, spectral_bias=True, channel_transform="auto"):
        check_probability(kept_fraction, "kept_fraction")
        check_choice(channel_transform, "channel_transform", CHANNEL_TRANSFORMS)
        if transform_axes is not None and (
            isinstance(transform_axes, (str, bytes))
            or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in transform_axes)
        ):
            raise ValueError("Invalid value for argument `transform_axes`: expected None (all axes) or a sequence of "
                             f"kernel axes, received {transform_axes!r}.")
        if not isinstance(spectral_bias, bool):
            raise ValueError(f"Invalid value for argument `spectral_bias`: expected a bool, received {spectral_bias!r}.")
        self.kept_fraction = float(kept_fraction)
        self.transform_axes = None if transform_axes is None else tuple(int(a) for a in transform_axes)
        self.spectral_bias = spectral_bias
        self.channel_transform = channel_transform

    def transform(self, kernel_shape, layout=None):
        axes = range(len(kernel_shape)) if self.transform_axes is None else self.transform_axes
        return SpectralTransform(kernel_shape, tuple(axes))

    def initial_mask(self, transform):
        size = int(np.prod(transform.shape))
        return tail_mask(transform.shape, kept_count(size, self.kept_fraction), level=transform.frequency_level())

    def build_kernel(self, layer, kernel_shape, layout):
        transform = self.transform(kernel_shape, layout)
        return SpectralWeight(layer, "coefficients", transform, self.initial_mask(transform),
                              initializer=layer.kernel_initializer, regularizer=layer.kernel_regularizer,
                              constraint=layer.kernel_constraint)

    def build_bias(self, layer, size):
        """The bias as a `SpectralWeight` (1-D DCT, tail mask), or a plain
        variable with ``spectral_bias=False``, or None."""
        if not layer.use_bias or not self.spectral_bias:
            return super().build_bias(layer, size)
        transform = SpectralTransform((size,), (0,))
        return SpectralWeight(layer, "bias_coefficients", transform, self.initial_mask(transform),
                              initializer=layer.bias_initializer, regularizer=layer.bias_regularizer,
                              constraint=layer.bias_constraint)


class ReorderCoding(Coding):
    """reorder-DCT's coding (Alg. 1-3): the kernel in the paper's order,
    reshaped to ``rows`` (the paper's g) rows, keeps the ``kept`` (t) lowest
    DCT frequencies of every row of the column-reordered matrix; see
    `ReorderedWeight`. Grouped convolutions are not compressed, and the
    coefficients take no constraint."""

    family = "reorder_dct"
    arguments = ("rows", "kept")
    unhonoured_arguments = ("kernel_constraint", "groups")
    dropped_from_plain = ("kernel_constraint",)
    kernel_attributes = ("columns", "order", "set_order", "paper_rows", "set_compressed", "inverse_order")

    def __init__(self, rows=4, kept=1):
        check_int(rows, "rows", 1)
        check_int(kept, "kept", 1)
        self.rows = int(rows)
        self.kept = int(kept)

    def build_kernel(self, layer, kernel_shape, layout):
        size = int(np.prod(kernel_shape))
        if size % self.rows:
            raise ValueError(f"Invalid value for argument `rows`: {self.rows} does not divide the {size} weights of "
                             f"{layer.name} (kernel {kernel_shape}).")
        if self.kept > size // self.rows:
            raise ValueError(f"Invalid value for argument `kept`: {self.kept} > the {size // self.rows} columns of "
                             f"{layer.name}.")
        return ReorderedWeight(layer, "coefficients", kernel_shape, layout.paper_axes, self.rows, self.kept,
                               regularizer=layer.kernel_regularizer)


class RateDistortionCoding(Coding):
    """Rate–distortion coding: kernel and bias are `CodedWeight`s (quantized
    DCT coefficients, learned steps and logistic priors per group; see
    `dct_keras.spectral.coded`), and a training call adds the loss
    ``rate_weight * warmup * rate``, the rate being the code length in bits
    of the layer's weights under their priors (with training noise).
    ``warmup`` is a non-trainable scalar of the layer (1 by default; the
    `dct_keras.callbacks.RateWarmup` callback ramps it), ``seed`` seeds the
    noise, ``log_speed`` speeds up the training of the steps and priors
    (`CodedWeight`), ``rate_interval`` is how many training calls share one
    evaluation of the rate and its gradient (`CodedWeight.lagged_rate_bits`;
    1: every call differentiates the rate itself). Kernel and bias
    constraints are not honoured (a constraint would move coefficients off
    their codes)."""

    family = "rd"
    seed_argument = "seed"
    arguments = ("rate_weight", "log_speed", "rate_interval", "seed")
    unhonoured_arguments = ("kernel_constraint", "bias_constraint")
    dropped_from_plain = ("kernel_constraint", "bias_constraint")

    def __init__(self, rate_weight=0.0, log_speed=1.0, rate_interval=8, seed=None):
        if isinstance(rate_weight, bool) or not isinstance(rate_weight, numbers.Real) or not rate_weight >= 0:
            raise ValueError("Invalid value for argument `rate_weight`: expected a number >= 0 (the loss per bit), "
                             f"received {rate_weight!r}.")
        if isinstance(log_speed, bool) or not isinstance(log_speed, numbers.Real) or not log_speed > 0:
            raise ValueError(f"Invalid value for argument `log_speed`: expected a number > 0, received {log_speed!r}.")
        check_int(rate_interval, "rate_interval", 1)
        if seed is not None:
            check_int(seed, "seed", 0, "None or a non-negative integer")
        self.rate_weight = float(rate_weight)
        self.log_speed = float(log_speed)
        self.rate_interval = int(rate_interval)
        self.seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)
        self.warmup = None
        self.training_steps = None

    @property
    def lagged(self):
        return self.rate_interval > 1

    def build_kernel(self, layer, kernel_shape, layout):
        self.warmup = layer.add_weight(name="rate_warmup", shape=(), initializer="ones", trainable=False,
                                       dtype="float32", autocast=False)
        if self.lagged:
            self.training_steps = layer.add_weight(name="rate_training_steps", shape=(), initializer="zeros",
                                                   trainable=False, dtype="int32", autocast=False)
        transform, groups = coded_transform(kernel_shape, layout.rank)
        return CodedWeight(layer, "coefficients", transform, groups, layer.kernel_initializer,
                           regularizer=layer.kernel_regularizer, log_speed=self.log_speed, lagged=self.lagged)

    def build_bias(self, layer, size):
        if not layer.use_bias:
            return None
        transform, groups = coded_transform((size,), 0)
        return CodedWeight(layer, "bias_coefficients", transform, groups, layer.bias_initializer,
                           regularizer=layer.bias_regularizer, log_speed=self.log_speed, lagged=self.lagged)

    def seed_generator(self):
        return keras.random.SeedGenerator(self.seed)

    def training_loss(self, layer):
        if not self.rate_weight:
            return None
        shift = keras.random.uniform((), 0.0, 1.0, seed=layer.perturbation_seed)
        if self.lagged:
            steps = keras.ops.convert_to_tensor(self.training_steps)
            refresh = keras.ops.equal(keras.ops.mod(steps, self.rate_interval), 0)
            self.training_steps.assign(steps + 1)
            bits = sum(weight.lagged_rate_bits(refresh, shift) for weight in layer.coded_weights)
        else:
            bits = sum(weight.rate_bits(shift) for weight in layer.coded_weights)
        return self.rate_weight * self.warmup * bits

    def transient_variables(self, layer):
        steps = [self.training_steps] if self.training_steps is not None else []
        return steps + [variable for weight in layer.coded_weights for variable in weight.rate_cache]


def plain_bias(layer, size):
    """``layer``'s bias as a plain Keras weight of length ``size``."""
    return layer.add_weight(name="bias", shape=(size,), initializer=layer.bias_initializer,
                            regularizer=layer.bias_regularizer, constraint=layer.bias_constraint, trainable=True,
                            dtype=layer.dtype)


def check_int(value, name, minimum, expected=None):
    """Raises a Keras-style ValueError unless ``value`` is an int >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"Invalid value for argument `{name}`: expected {expected or f'an integer >= {minimum}'}, "
                         f"received {value!r}.")


def check_choice(value, name, choices):
    """Raises a Keras-style ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"Invalid value for argument `{name}`: expected one of {choices}, received {value!r}.")
