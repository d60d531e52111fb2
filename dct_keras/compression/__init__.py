"""Post-training compression of trained Keras models (reorder-DCT)."""

from dct_keras.compression.reorder import (
    NothingToCompress,
    STRATEGIES, LayerPlan, compress, compression_table, l1_prune, layer_nsse, nsse, plan_compression,
)

__all__ = ["STRATEGIES", "LayerPlan", "NothingToCompress", "compress", "compression_table", "l1_prune", "layer_nsse", "nsse",
           "plan_compression"]
