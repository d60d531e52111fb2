"""dct_keras: Keras 3 layers whose weights live in the DCT domain.

The spectral core (`dct_keras.spectral`) holds the orthonormal DCT bases, the
N-D transform and the coefficient masks; every layer is built on it.

``import dct_keras`` imports Keras and registers the layers with Keras's
serialization (so ``keras.models.load_model`` finds them). The experiment
command lines set ``DCT_KERAS_DEFER_IMPORTS=1`` before importing the package, so
that they check their arguments (pure Python, `dct_keras.experiment.cli`)
before TensorFlow loads; the attributes below then load on first use.
"""

import importlib
import os

__version__ = "0.1.0"

# Public name -> module that defines it.
_EXPORTS = {
    "DCTConv2D": "dct_keras.layers",
    "DCTConv2DTranspose": "dct_keras.layers",
    "DCTDense": "dct_keras.layers",
    "FreqRegConv2D": "dct_keras.layers",
    "FreqRegConv2DTranspose": "dct_keras.layers",
    "FreqRegDense": "dct_keras.layers",
    "HarmonicConv": "dct_keras.layers",
    "ReorderDCTConv2D": "dct_keras.layers",
    "ReorderDCTDense": "dct_keras.layers",
    "compression": "dct_keras.compression",
    "ParamCount": "dct_keras.surgery",
    "ParamReport": "dct_keras.surgery",
    "convert": "dct_keras.surgery",
    "count_params": "dct_keras.surgery",
    "fold": "dct_keras.surgery",
    "spectral_layers": "dct_keras.surgery",
    "spectral_weights": "dct_keras.surgery",
    "compression_report": "dct_keras.export",
    "format_compression_report": "dct_keras.export",
    "load_compressed": "dct_keras.export",
    "save_compressed": "dct_keras.export",
    "callbacks": "dct_keras.callbacks",
    "regularizers": "dct_keras.regularizers",
    "spectral": "dct_keras.spectral",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dct_keras' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if module.__name__ == f"dct_keras.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


if os.environ.get("DCT_KERAS_DEFER_IMPORTS") != "1":
    for _name in _EXPORTS:
        __getattr__(_name)
