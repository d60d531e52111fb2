"""Arguments and kernel transform shared by the DCT-Conv layers (dct_conv.txt)."""

import numbers

import numpy as np

from dct_keras.layers.base import SpectralKernelLayer
from dct_keras.spectral.bases import SpectralTransform
from dct_keras.spectral.masks import SWITCH_OFF_POLICIES, check_probability, switch_off_mask

POINTWISE_MODES = ("channel_dct", "channel_block_dct2d", "none")


class DCTConvBase(SpectralKernelLayer):
    """Mixin of `DCTConv2D` and `DCTConv2DTranspose` (see their docstrings).

    Kernel transform (dct_conv.txt §IV-A):

    * kernels with a spatial extent larger than 1: 2-D IDCT of every
      ``kh x kw`` slice, independently for each (input, output) channel pair;
    * 1x1 kernels with ``pointwise="channel_dct"``: 1-D IDCT over consecutive
      sub-rows of ``pointwise_block`` input channels of each filter. When the
      number of input channels is not a multiple of the block, the last block
      is shorter and gets its own orthonormal DCT of that length;
    * 1x1 kernels with ``pointwise="channel_block_dct2d"`` (CTNet's channel
      form, ctnet_h265.txt): 2-D DCT over (input, output) channels in
      ``pointwise_block x pointwise_block`` blocks (shorter blocks at the
      ends get their own DCT);
    * 1x1 kernels with ``pointwise="none"``: no transform (the coefficients
      are the weights; the switch-off mask still applies).

    The kernel layout (``_input_channel_axis``, ``_kernel_shape``) comes from
    a geometry mixin of `dct_keras.layers.geometry`.
    """

    spectral_config_keys = ("switch_off", "switch_off_policy", "mask_seed", "pointwise", "pointwise_block")

    def __init__(
        self,
        filters,
        kernel_size,
        *args,
        switch_off=0.0,
        switch_off_policy="random",
        mask_seed=None,
        pointwise="channel_dct",
        pointwise_block=16,
        **kwargs,
    ):
        _check_kernel_size(kernel_size)
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
        super().__init__(filters, kernel_size, *args, **kwargs)
        self.switch_off = float(switch_off)
        self.switch_off_policy = switch_off_policy
        # An unseeded layer draws its seed now (from NumPy's global generator,
        # which `keras.utils.set_random_seed` seeds) and records it in its
        # config, so the mask is reproducible from the saved model.
        self.mask_seed = int(np.random.randint(0, 2**31 - 1)) if mask_seed is None else int(mask_seed)
        self.pointwise = pointwise
        self.pointwise_block = int(pointwise_block)

    def _kernel_transform(self, kernel_shape):
        if any(size > 1 for size in self.kernel_size):
            return SpectralTransform(kernel_shape, tuple(range(self.rank)))
        if self.pointwise == "channel_dct":
            axis = self._input_channel_axis
            return SpectralTransform(kernel_shape, (axis,), {axis: self.pointwise_block})
        if self.pointwise == "channel_block_dct2d":
            block = self.pointwise_block
            return SpectralTransform(kernel_shape, (2, 3), {2: block, 3: block})
        return SpectralTransform(kernel_shape, ())

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
