"""Public layers of dct_keras."""

from dct_keras.layers.dct_conv import DCTConv2D
from dct_keras.layers.dct_conv_transpose import DCTConv2DTranspose
from dct_keras.layers.dct_dense import DCTDense
from dct_keras.layers.freqreg_conv import FreqRegConv2D
from dct_keras.layers.freqreg_conv_transpose import FreqRegConv2DTranspose
from dct_keras.layers.freqreg_dense import FreqRegDense
from dct_keras.layers.harmonic import HarmonicConv
from dct_keras.layers.rd_conv import RDConv2D
from dct_keras.layers.rd_conv_transpose import RDConv2DTranspose
from dct_keras.layers.rd_dense import RDDense
from dct_keras.layers.reorder_dct_conv import ReorderDCTConv2D
from dct_keras.layers.reorder_dct_dense import ReorderDCTDense
from dct_keras.spectral.harmonic import harmonic_filter_bank

__all__ = [
    "DCTConv2D", "DCTConv2DTranspose", "DCTDense", "FreqRegConv2D", "FreqRegConv2DTranspose", "FreqRegDense", "HarmonicConv",
    "RDConv2D", "RDConv2DTranspose", "RDDense", "ReorderDCTConv2D", "ReorderDCTDense", "harmonic_filter_bank",
]
