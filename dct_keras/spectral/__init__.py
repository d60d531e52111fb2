"""The spectral core: DCT bases, N-D transforms and coefficient masks."""

from dct_keras.spectral.bases import SpectralTransform, dct_matrix, dctn, idctn
from dct_keras.spectral.masks import (
    index_level,
    level_mask,
    pack_mask,
    switch_off_mask,
    switched_off_count,
    tail_mask,
    unpack_mask,
    zigzag_order,
)

__all__ = [
    "SpectralTransform",
    "dct_matrix",
    "dctn",
    "idctn",
    "index_level",
    "level_mask",
    "pack_mask",
    "switch_off_mask",
    "switched_off_count",
    "tail_mask",
    "unpack_mask",
    "zigzag_order",
]
