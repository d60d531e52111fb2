"""dct_keras: Keras 3 layers whose weights live in the DCT domain.

The spectral core (`dct_keras.spectral`) holds the orthonormal DCT bases, the
N-D transform and the coefficient masks; every layer is built on it.
"""

from dct_keras import spectral
from dct_keras.convert import ParamCount, ParamReport, convert, count_params, fold
from dct_keras.layers import DCTConv2D, DCTConv2DTranspose

__version__ = "0.1.0"

__all__ = [
    "DCTConv2D",
    "DCTConv2DTranspose",
    "ParamCount",
    "ParamReport",
    "convert",
    "count_params",
    "fold",
    "spectral",
]
