"""`DCTConv2DTranspose`: transposed convolution with DCT-coded filters."""

import keras

from dct_keras.layers.base import SpectralLayer, register_family
from dct_keras.spectral.families import DCTCoding


@keras.saving.register_keras_serializable(package="dct_keras")
@register_family("dct")
class DCTConv2DTranspose(SpectralLayer, keras.layers.Conv2DTranspose):
    """2D transposed convolution with filters defined by trained DCT coefficients.

    The layer behaves as `keras.layers.Conv2DTranspose`; its kernel (Keras
    layout ``(kh, kw, filters, input_channels)``) is
    ``IDCT(coefficients * mask)``. See `DCTConv2D` for the DCT-specific
    arguments; for 1x1 kernels the `"channel_dct"` sub-rows run over the
    layer's input channels (the last kernel axis).

    Args:
        filters, kernel_size, strides, padding, output_padding, data_format,
        dilation_rate, activation, use_bias, initializers, regularizers,
        constraints: as in `keras.layers.Conv2DTranspose` (the kernel
        initializer, regularizer and constraint act on the coefficients).
        switch_off, switch_off_policy, mask_seed, pointwise, pointwise_block: as
            in `DCTConv2D`.

    Input shape:
        4D tensor ``(batch, rows, cols, channels)`` for `"channels_last"`, or
        ``(batch, channels, rows, cols)`` for `"channels_first"`.

    Output shape:
        As `keras.layers.Conv2DTranspose`.

    Example:

    >>> layer = DCTConv2DTranspose(16, 3, strides=2, padding="same", switch_off=0.3)
    >>> tuple(layer(np.zeros((2, 8, 8, 4), "float32")).shape)
    (2, 16, 16, 16)

    Reference:
        Chęciński & Wawrzyński, "DCT-Conv" (`dct_conv.txt`), §IV and Problems 3-4.
    """

    coding = DCTCoding
