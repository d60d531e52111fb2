"""`ReorderDCTConv2D`: a Conv2D compressed by reorder-DCT."""

import keras

from dct_keras.layers.base import SpectralLayer, register_family
from dct_keras.spectral.families import ReorderCoding


@keras.saving.register_keras_serializable(package="dct_keras")
@register_family("reorder_dct")
class ReorderDCTConv2D(SpectralLayer, keras.layers.Conv2D):
    """`keras.layers.Conv2D` whose kernel is stored compressed by reorder-DCT.

    The kernel in the paper's order (filters, in, kh, kw) is reshaped to
    ``groups`` rows; the layer keeps the ``kept`` lowest DCT coefficients of
    every row of the column-reordered matrix (trainable) and the column order
    (int32, fixed), and rebuilds the kernel on use. Normally made by
    `dct_keras.compression.compress` from a trained model.

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate,
        activation, use_bias, bias_*: as in `keras.layers.Conv2D` (no grouped
            convolution).
        rows: the number ``g`` of rows the kernel is reshaped into (the
            paper's groups).
        kept: the number ``t`` of DCT coefficients kept per row.

    Input shape:
        4D tensor, as `keras.layers.Conv2D`.

    Output shape:
        As `keras.layers.Conv2D`.

    Example:

    >>> layer = ReorderDCTConv2D(64, 3, rows=4, kept=288)
    >>> layer.build((None, 32, 32, 64)); tuple(layer.coefficients.shape), tuple(layer.order.shape)
    ((4, 288), (9216,))

    Reference:
        Ulicny, Krylov & Dahyot, "Tensor reordering for CNN compression"
        (`reorder_dct_compression.txt`), Alg. 2-3.
    """

    coding = ReorderCoding
