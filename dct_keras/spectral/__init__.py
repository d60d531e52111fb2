"""The spectral core: DCT bases, N-D transforms and coefficient masks."""

from dct_keras.spectral.bases import SpectralTransform, dct_matrix, dctn, idctn
from dct_keras.spectral.orders import greedy_order, index_level, zigzag_order
from dct_keras.spectral.masks import (
    level_mask,
    pack_mask,
    switch_off_mask,
    switched_off_count,
    tail_mask,
    unpack_mask,
)

__all__ = [
    "SpectralTransform",
    "dct_matrix",
    "dctn",
    "greedy_order",
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
