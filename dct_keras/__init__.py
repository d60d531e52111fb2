"""dct_keras: Keras 3 layers whose weights live in the DCT domain.

The spectral core (`dct_keras.spectral`) holds the orthonormal DCT bases, the
N-D transform and the coefficient masks; every layer is built on it.
"""

from dct_keras import callbacks, spectral
from dct_keras.convert import ParamCount, ParamReport, convert, count_params, fold
from dct_keras.export import compression_report, format_compression_report, load_compressed, save_compressed
from dct_keras.layers import (
    DCTConv2D, DCTConv2DTranspose, FreqRegConv2D, FreqRegConv2DTranspose, FreqRegDense, HarmonicConv,
)

__version__ = "0.1.0"

__all__ = [
    "DCTConv2D",
    "DCTConv2DTranspose",
    "FreqRegConv2D",
    "FreqRegConv2DTranspose",
    "FreqRegDense",
    "HarmonicConv",
    "ParamCount",
    "ParamReport",
    "callbacks",
    "compression_report",
    "convert",
    "count_params",
    "fold",
    "format_compression_report",
    "load_compressed",
    "save_compressed",
    "spectral",
]
