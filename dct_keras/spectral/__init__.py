"""The spectral core: DCT bases, N-D transforms and coefficient masks.

`orders` is NumPy only (a deployment decoding a shipped model reads it
without Keras); the names below load their module on first use.
"""

import importlib

_EXPORTS = {
    "SpectralTransform": "bases", "dct_matrix": "bases", "dctn": "bases", "idctn": "bases",
    "greedy_order": "orders", "index_level": "orders", "zigzag_order": "orders",
    "level_mask": "masks", "pack_mask": "masks", "switch_off_mask": "masks", "switched_off_count": "masks",
    "tail_mask": "masks", "unpack_mask": "masks",
    "DCTCoding": "families", "FreqRegCoding": "families", "ReorderCoding": "families", "HarmonicBank": "harmonic",
    "SpectralWeight": "weight", "ReorderedWeight": "weight",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dct_keras.spectral' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"dct_keras.spectral.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
