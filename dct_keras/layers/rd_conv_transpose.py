"""`RDConv2DTranspose`: a transposed convolution trained under the code length of its weights."""

import keras

from dct_keras.layers.base import SpectralLayer, register_family
from dct_keras.spectral.families import RateDistortionCoding


@keras.saving.register_keras_serializable(package="dct_keras")
@register_family("rd")
class RDConv2DTranspose(SpectralLayer, keras.layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` for rate–distortion training: its
    kernel (Keras layout ``(kh, kw, filters, input_channels)``) and bias are
    coded as in `RDConv2D`.

    Args:
        filters, kernel_size, strides, padding, output_padding, data_format,
        dilation_rate, activation, use_bias, kernel_initializer,
        bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer: as in `keras.layers.Conv2DTranspose`.
        rate_weight, log_speed, seed: as in `RDConv2D`.

    Input shape:
        4D image tensor, as `keras.layers.Conv2DTranspose`.

    Output shape:
        As `keras.layers.Conv2DTranspose`.

    Example:

    >>> layer = RDConv2DTranspose(16, 3, strides=2, padding="same", rate_weight=1e-5)
    >>> tuple(layer(np.zeros((2, 8, 8, 4), "float32")).shape)
    (2, 16, 16, 16)

    Reference:
        Oktay et al., ICLR 2020 (arXiv 1906.06624).
    """

    coding = RateDistortionCoding
