"""Arguments and kernel transform shared by the DCT family: `DCTConv2D`,
`DCTConv2DTranspose` (dct_conv.txt) and `DCTDense` (CTNet's channel form)."""

import numbers

import keras
import numpy as np

from dct_keras.layers.base import SpectralKernelLayer
from dct_keras.spectral.bases import SpectralTransform
from dct_keras.spectral.masks import SWITCH_OFF_POLICIES, check_probability, switch_off_mask
from dct_keras.spectral.perturb import perturb

POINTWISE_MODES = ("channel_dct", "channel_block_dct2d", "none")


class DCTConvBase(SpectralKernelLayer):
    """Mixin of `DCTConv2D`, `DCTConv2DTranspose` and `DCTDense` (see their
    docstrings).

    Kernel transform (dct_conv.txt §IV-A):

    * kernels with a spatial extent larger than 1: 2-D IDCT of every
      ``kh x kw`` slice, independently for each (input, output) channel pair;
    * 1x1 and dense kernels with ``pointwise="channel_dct"``: 1-D IDCT over
      consecutive sub-rows of ``pointwise_block`` input channels of each
      filter. When the number of input channels is not a multiple of the
      block, the last block is shorter and gets its own orthonormal DCT of
      that length;
    * 1x1 and dense kernels with ``pointwise="channel_block_dct2d"`` (CTNet's
      channel form, ctnet_h265.txt): 2-D DCT over (input, output) channels in
      ``pointwise_block x pointwise_block`` blocks (shorter blocks at the
      ends get their own DCT);
    * 1x1 and dense kernels with ``pointwise="none"``: no transform (the
      coefficients are the weights; the switch-off mask still applies).

    Training-time perturbations of the coefficients (CTNet's recipe,
    `dct_keras.spectral.perturb`; all off by default): ``training_noise=q``
    adds ``u * q``, ``u ~ U(-1/2, 1/2)`` drawn every step (the paper's
    stand-in for rounding to the step ``q``); ``coefficient_dropout=rate``
    zeroes coefficients with that probability and scales the rest by
    ``1 / (1 - rate)`` (the authors' code's DCT dropout, 0.05 there);
    ``training_bits=b`` rounds the tensor to ``2^b - 1`` levels between its
    min and max with a straight-through gradient (the authors' export-aware
    training, 8 there). Inference and the saved coefficients are unperturbed.

    The kernel layout (``_input_channel_axis``, ``_output_axis``,
    ``_kernel_shape``) comes from a geometry mixin of
    `dct_keras.layers.geometry`.
    """

    spectral_config_keys = (
        "switch_off", "switch_off_policy", "mask_seed", "pointwise", "pointwise_block", "training_noise",
        "coefficient_dropout", "training_bits",
    )

    def __init__(
        self,
        *args,
        switch_off=0.0,
        switch_off_policy="random",
        mask_seed=None,
        pointwise="channel_dct",
        pointwise_block=16,
        training_noise=0.0,
        coefficient_dropout=0.0,
        training_bits=0,
        **kwargs,
    ):
        self.refuse_unhonoured(kwargs)
        if isinstance(self, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            _check_kernel_size(kwargs["kernel_size"] if "kernel_size" in kwargs else args[1] if len(args) > 1 else None)
        check_probability(switch_off, "switch_off")
        if mask_seed is not None and (
            isinstance(mask_seed, bool) or not isinstance(mask_seed, numbers.Integral) or mask_seed < 0
        ):
            raise ValueError(
                "Invalid value for argument `mask_seed`: expected None or a "
                f"non-negative integer, received {mask_seed!r}."
            )
        if switch_off_policy not in SWITCH_OFF_POLICIES:
            raise ValueError(
                f"Invalid value for argument `switch_off_policy`: expected one of "
                f"{SWITCH_OFF_POLICIES}, received {switch_off_policy!r}."
            )
        if pointwise not in POINTWISE_MODES:
            raise ValueError(
                f"Invalid value for argument `pointwise`: expected one of "
                f"{POINTWISE_MODES}, received {pointwise!r}."
            )
        if isinstance(pointwise_block, bool) or not isinstance(pointwise_block, numbers.Integral) or pointwise_block < 1:
            raise ValueError(
                "Invalid value for argument `pointwise_block`: expected an "
                f"integer >= 1, received {pointwise_block!r}."
            )
        if isinstance(training_noise, bool) or not isinstance(training_noise, numbers.Real) or not training_noise >= 0:
            raise ValueError(
                "Invalid value for argument `training_noise`: expected a number "
                f">= 0 (the quantization step q), received {training_noise!r}."
            )
        if isinstance(coefficient_dropout, bool) or not isinstance(coefficient_dropout, numbers.Real) \
                or not 0 <= coefficient_dropout < 1:
            raise ValueError("Invalid value for argument `coefficient_dropout`: expected a number in [0, 1), "
                             f"received {coefficient_dropout!r}.")
        if isinstance(training_bits, bool) or not isinstance(training_bits, numbers.Integral) \
                or not (training_bits == 0 or 2 <= training_bits <= 16):
            raise ValueError("Invalid value for argument `training_bits`: expected 0 (off) or an integer in [2, 16], "
                             f"received {training_bits!r}.")
        super().__init__(*args, **kwargs)
        self.switch_off = float(switch_off)
        self.switch_off_policy = switch_off_policy
        # An unseeded layer draws its seed now (from NumPy's global generator,
        # which `keras.utils.set_random_seed` seeds) and records it in its
        # config, so the mask is reproducible from the saved model.
        self.mask_seed = int(np.random.randint(0, 2**31 - 1)) if mask_seed is None else int(mask_seed)
        self.pointwise = pointwise
        self.pointwise_block = int(pointwise_block)
        self.training_noise = float(training_noise)
        self.coefficient_dropout = float(coefficient_dropout)
        self.training_bits = int(training_bits)
        perturbed = self.training_noise or self.coefficient_dropout or self.training_bits
        self._perturb_seed = keras.random.SeedGenerator(self.mask_seed) if perturbed else None
        self._perturbed_call = False

    def _kernel_transform(self, kernel_shape):
        if any(size > 1 for size in getattr(self, "kernel_size", ())):
            return SpectralTransform(kernel_shape, tuple(range(self.rank)))
        inputs, outputs = self._input_channel_axis, self._output_axis
        if self.pointwise == "channel_dct":
            return SpectralTransform(kernel_shape, (inputs,), {inputs: self.pointwise_block})
        if self.pointwise == "channel_block_dct2d":
            return SpectralTransform(kernel_shape, tuple(sorted((inputs, outputs))),
                                     {inputs: self.pointwise_block, outputs: self.pointwise_block})
        return SpectralTransform(kernel_shape, ())

    def call(self, inputs, training=None):
        # The wrapped Keras call reads `kernel`; a training call with a
        # perturbation makes that read perturb the coefficients.
        self._perturbed_call = bool(training) and self._perturb_seed is not None
        try:
            return super().call(inputs)
        finally:
            self._perturbed_call = False

    @property
    def kernel(self):
        """The spatial kernel in Keras layout: ``IDCT(coefficients * mask)``
        (the coefficients perturbed in a training call, see above)."""
        self._require_built("kernel")
        if not self._perturbed_call:
            return self.spectral_kernel.value()
        return self.spectral_kernel.value(lambda c: perturb(c, self._perturb_seed, self.training_noise,
                                                            self.coefficient_dropout, self.training_bits))

    def _initial_kernel_mask(self, transform):
        return switch_off_mask(
            transform.shape, self.switch_off, self.mask_seed, self.switch_off_policy, level=transform.frequency_level()
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "switch_off": self.switch_off,
                "switch_off_policy": self.switch_off_policy,
                "mask_seed": self.mask_seed,
                "pointwise": self.pointwise,
                "pointwise_block": self.pointwise_block,
                "training_noise": self.training_noise,
                "coefficient_dropout": self.coefficient_dropout,
                "training_bits": self.training_bits,
            }
        )
        return config


def _check_kernel_size(kernel_size):
    sizes = (kernel_size,) if isinstance(kernel_size, numbers.Integral) else kernel_size
    try:
        valid = len(sizes) > 0 and all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in sizes
        )
    except TypeError:
        valid = False
    if not valid:
        raise ValueError(
            "Invalid value for argument `kernel_size`: expected a positive "
            f"integer or a tuple of positive integers, received {kernel_size!r}."
        )
