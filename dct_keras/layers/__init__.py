"""Public layers of dct_keras."""

from dct_keras.layers.dct_conv import DCTConv2D
from dct_keras.layers.dct_conv_transpose import DCTConv2DTranspose

__all__ = ["DCTConv2D", "DCTConv2DTranspose"]
