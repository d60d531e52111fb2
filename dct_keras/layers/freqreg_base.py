"""Arguments, transform and masks shared by the Frequency Regularization layers
(frequency_regularization.txt)."""

import numbers

import numpy as np

from dct_keras.layers.base import SpectralKernelLayer
from dct_keras.spectral.bases import SpectralTransform
from dct_keras.spectral.masks import check_probability, kept_count, tail_mask
from dct_keras.spectral.weight import SpectralWeight


class FreqRegBase(SpectralKernelLayer):
    """Mixin of `FreqRegDense`, `FreqRegConv2D`, `FreqRegConv2DTranspose`.

    Kernel and (by default) bias are kept as DCT coefficients, transformed over
    ``transform_axes`` (all axes by default: 2-D for Dense, 4-D for conv, as in
    the paper's experiments). Each is masked by its zigzag tail: the
    coefficients ordered by the L1 norm of their index vector (ties by flat
    index), of which the first ``round(kept_fraction * n)`` are kept. The
    `dct_keras.callbacks.TailDropout` callback shrinks that fraction during
    training (dynamic tail-dropout).
    """

    spectral_config_keys = ("kept_fraction", "transform_axes", "spectral_bias")

    def __init__(self, *args, kept_fraction=1.0, transform_axes=None, spectral_bias=True, **kwargs):
        self.refuse_unhonoured(kwargs)
        check_probability(kept_fraction, "kept_fraction")
        if transform_axes is not None and (
            isinstance(transform_axes, (str, bytes))
            or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in transform_axes)
        ):
            raise ValueError(
                "Invalid value for argument `transform_axes`: expected None (all "
                f"axes) or a sequence of kernel axes, received {transform_axes!r}."
            )
        if not isinstance(spectral_bias, bool):
            raise ValueError(f"Invalid value for argument `spectral_bias`: expected a bool, received {spectral_bias!r}.")
        super().__init__(*args, **kwargs)
        self.kept_fraction = float(kept_fraction)
        self.transform_axes = None if transform_axes is None else tuple(int(a) for a in transform_axes)
        self.spectral_bias = spectral_bias

    def _kernel_transform(self, kernel_shape):
        axes = range(len(kernel_shape)) if self.transform_axes is None else self.transform_axes
        return SpectralTransform(kernel_shape, tuple(axes))

    def _initial_kernel_mask(self, transform):
        return self._tail_mask(transform)

    def _tail_mask(self, transform):
        size = int(np.prod(transform.shape))
        return tail_mask(transform.shape, kept_count(size, self.kept_fraction), level=transform.frequency_level())

    def _build_bias(self, size):
        # `bias` is a property here: the IDCT of the bias coefficients, or the
        # plain bias variable when `spectral_bias=False`.
        self._bias_weight = None
        self._plain_bias_variable = None
        if not self.use_bias:
            return
        if not self.spectral_bias:
            self._plain_bias_variable = self._plain_bias(size)
            return
        transform = SpectralTransform((size,), (0,))
        self._bias_weight = SpectralWeight(
            self,
            "bias_coefficients",
            transform,
            self._tail_mask(transform),
            initializer=self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )

    @property
    def bias(self):
        """The bias: IDCT of its masked coefficients, a plain weight, or None."""
        self._require_built("bias")
        if self._bias_weight is not None:
            return self._bias_weight.value()
        return self._plain_bias_variable

    def set_bias(self, bias):
        if self._bias_weight is not None:
            self._bias_weight.assign_spatial(bias)
        else:
            self._plain_bias_variable.assign(bias)

    @property
    def spectral_weights(self):
        self._require_built("spectral_weights")
        return [self.spectral_kernel] + ([self._bias_weight] if self._bias_weight is not None else [])

    def get_config(self):
        config = super().get_config()
        config.update(
            {"kept_fraction": self.kept_fraction, "transform_axes": self.transform_axes, "spectral_bias": self.spectral_bias}
        )
        return config
