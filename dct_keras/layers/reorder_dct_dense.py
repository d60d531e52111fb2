"""`ReorderDCTDense`: a Dense layer compressed by reorder-DCT."""

import keras

from dct_keras.layers.base import SpectralLayer, register_family
from dct_keras.spectral.families import ReorderCoding


@keras.saving.register_keras_serializable(package="dct_keras")
@register_family("reorder_dct")
class ReorderDCTDense(SpectralLayer, keras.layers.Dense):
    """`keras.layers.Dense` whose kernel is stored compressed by reorder-DCT.

    The paper treats a fully connected layer as a 1x1 convolution: its kernel
    in (units, input_dim) order is reshaped to ``rows`` rows, reordered and
    truncated as in `ReorderDCTConv2D`.

    Args:
        units, activation, use_bias, bias_*: as in `keras.layers.Dense`.
        rows: the number ``g`` of rows the kernel is reshaped into.
        kept: the number ``t`` of DCT coefficients kept per row.

    Input shape:
        N-D tensor ``(batch, ..., input_dim)``.

    Output shape:
        N-D tensor ``(batch, ..., units)``.

    Example:

    >>> layer = ReorderDCTDense(10, rows=4, kept=64)
    >>> tuple(layer(np.zeros((2, 512), "float32")).shape)
    (2, 10)

    Reference:
        Ulicny, Krylov & Dahyot, "Tensor reordering for CNN compression"
        (`reorder_dct_compression.txt`), §4.2.
    """

    coding = ReorderCoding
