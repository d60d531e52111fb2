"""`FreqRegConv2D`: `keras.layers.Conv2D` with Frequency Regularization."""

import keras

from dct_keras.layers.base import SpectralLayer, register_family
from dct_keras.spectral.families import FreqRegCoding


@keras.saving.register_keras_serializable(package="dct_keras")
@register_family("freqreg")
class FreqRegConv2D(SpectralLayer, keras.layers.Conv2D):
    """`keras.layers.Conv2D` whose kernel and bias live in the frequency domain.

    The kernel is ``IDCT(coefficients * mask)`` over ``transform_axes`` (all
    axes by default), the mask keeping the zigzag-lowest
    ``round(kept_fraction * n)`` coefficients; the bias likewise (1-D). Pair it
    with `dct_keras.callbacks.TailDropout` for the paper's dynamic
    tail-dropout, which shrinks the kept fraction epoch by epoch.

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate,
        groups, activation, use_bias, initializers, regularizers, constraints:
            as in `keras.layers.Conv2D` (kernel / bias initializers,
            regularizers and constraints act on the coefficients).
        kept_fraction: float in [0, 1], the initial kept fraction (1: all).
        transform_axes: None (all kernel axes) or the kernel axes to transform.
        spectral_bias: keep the bias in the frequency domain too (paper eq. 3).

    Input shape:
        4D image tensor, as `keras.layers.Conv2D`.

    Output shape:
        As `keras.layers.Conv2D`.

    Example:

    >>> layer = FreqRegConv2D(32, 5, activation="relu", kept_fraction=0.1)
    >>> callback = dct_keras.callbacks.TailDropout(gamma=0.01, epsilon=0.01)

    Reference:
        Zhao et al., "Frequency Regularization: Restricting Information
        Redundancy of Convolutional Neural Networks"
        (`frequency_regularization.txt`), eq. (2)-(3) and §3.1.
    """

    coding = FreqRegCoding
