"""dct_keras: Keras 3 layers whose weights live in the DCT domain.

The spectral core (`dct_keras.spectral`) holds the orthonormal DCT bases, the
N-D transform and the coefficient masks; every layer is built on it.

``import dct_keras`` imports Keras and registers the layers with Keras's
serialization (so ``keras.models.load_model`` finds them). The command line
(``dct-keras``, ``python -m dct_keras``, the scripts in ``reproductions/``,
which set ``DCT_KERAS_DEFER_IMPORTS=1``) defers that, so that it checks its
arguments (pure Python, `dct_keras.experiment.commands`) before TensorFlow
loads; the attributes below then load on first use.
"""

import importlib
import importlib.util
import os
import sys

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
    "RDConv2D": "dct_keras.layers",
    "RDConv2DTranspose": "dct_keras.layers",
    "RDDense": "dct_keras.layers",
    "ReorderDCTConv2D": "dct_keras.layers",
    "ReorderDCTDense": "dct_keras.layers",
    "compression": "dct_keras.compression",
    "ParamCount": "dct_keras.accounting",
    "ParamReport": "dct_keras.accounting",
    "convert": "dct_keras.surgery",
    "count_params": "dct_keras.accounting",
    "fold": "dct_keras.surgery",
    "spectral_layers": "dct_keras.surgery",
    "spectral_weights": "dct_keras.surgery",
    "load_compressed": "dct_keras.export",
    "save_compressed": "dct_keras.export",
    "save_shipped": "dct_keras.export",
    "load_shipped": "dct_keras.export",
    "quantize": "dct_keras.export",
    "export_runtime": "dct_keras.export",
    "runtime_predict": "dct_keras.export",
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


def _deferred():
    """True when this process is the command line (imports wait for its
    checks) or Keras is not installed (a deployment that only decodes shipped
    weights with `dct_keras.decode`, NumPy only)."""
    if importlib.util.find_spec("keras") is None:
        return True
    if os.environ.get("DCT_KERAS_DEFER_IMPORTS") == "1" or os.path.basename(sys.argv[0] if sys.argv else "") == "dct-keras":
        return True
    arguments = getattr(sys, "orig_argv", [])
    return "-m" in arguments and arguments[arguments.index("-m") + 1:][:1] == ["dct_keras"]


if not _deferred():
    from dct_keras.framework import import_keras

    import_keras()  # without TensorFlow's start-up log lines
    for _name in _EXPORTS:
        __getattr__(_name)
