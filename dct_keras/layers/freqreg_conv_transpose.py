"""`FreqRegConv2DTranspose`: `keras.layers.Conv2DTranspose` with Frequency Regularization."""

import keras

from dct_keras.layers.base import SpectralLayer, register_family
from dct_keras.spectral.families import FreqRegCoding


@keras.saving.register_keras_serializable(package="dct_keras")
@register_family("freqreg")
class FreqRegConv2DTranspose(SpectralLayer, keras.layers.Conv2DTranspose):
    """2D transposed convolution with Frequency Regularization.

    `keras.layers.Conv2DTranspose` whose ``(kh, kw, filters, input_channels)``
    kernel and bias are kept as tail-masked DCT coefficients (the paper applies
    its regularization to "transposed convolution layers" alike). The FreqReg
    arguments are those of `FreqRegConv2D`.

    Args:
        filters, kernel_size, strides, padding, output_padding, data_format,
        dilation_rate, activation, use_bias, initializers, regularizers,
        constraints: as in `keras.layers.Conv2DTranspose`.
        kept_fraction, transform_axes, spectral_bias: see `FreqRegConv2D`.

    Input shape:
        4D tensor, as `keras.layers.Conv2DTranspose`.

    Output shape:
        As `keras.layers.Conv2DTranspose`.

    Example:

    >>> layer = FreqRegConv2DTranspose(16, 3, strides=2, padding="same", kept_fraction=0.1)
    >>> tuple(layer(np.zeros((2, 8, 8, 4), "float32")).shape)
    (2, 16, 16, 16)

    Reference:
        Zhao et al., "Frequency Regularization" (`frequency_regularization.txt`), §3.
    """

    coding = FreqRegCoding
