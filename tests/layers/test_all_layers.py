"""Every spectral layer through the shared harness (tests/layers/harness.py)."""


import pytest

from dct_keras import (
    DCTConv2D, DCTConv2DTranspose, DCTDense, FreqRegConv2D, FreqRegConv2DTranspose, FreqRegDense, HarmonicConv, RDConv2D,
    RDConv2DTranspose, RDDense, ReorderDCTConv2D, ReorderDCTDense,
)
from tests.layers.harness import run_layer_test

DCT_BAD = [
    (dict(switch_off=1.5), "switch_off"), (dict(switch_off=-0.01), "switch_off"), (dict(switch_off="half"), "switch_off"),
    (dict(switch_off=None), "switch_off"), (dict(kernel_size=0), "kernel_size"), (dict(kernel_size=(3, 0)), "kernel_size"),
    (dict(kernel_size="3"), "kernel_size"), (dict(pointwise_block=0), "pointwise_block"),
    (dict(pointwise_block=2.5), "pointwise_block"), (dict(pointwise="dct2d"), "pointwise"), (dict(mask_seed=-1), "mask_seed"),
    (dict(switch_off_policy="lowpass"), "switch_off_policy"), (dict(mask_seed="a"), "mask_seed"),
    (dict(training_noise=-0.1), "training_noise"), (dict(training_noise="q"), "training_noise"),
    (dict(coefficient_dropout=1.0), "coefficient_dropout"), (dict(training_bits=1), "training_bits"),
    (dict(training_bits=8.0), "training_bits"),
]
DCT_DENSE_BAD = [(kwargs, name) for kwargs, name in DCT_BAD if "kernel_size" not in kwargs]
FREQREG_BAD = [
    (dict(kept_fraction=1.2), "kept_fraction"), (dict(kept_fraction="all"), "kept_fraction"),
    (dict(transform_axes="01"), "transform_axes"), (dict(transform_axes=(0.5,)), "transform_axes"),
    (dict(spectral_bias="yes"), "spectral_bias"),
]
HARMONIC_BAD = [
    (dict(levels=0), "levels"), (dict(levels=1.5), "levels"), (dict(kernel_size=0), "kernel_size"),
    (dict(kernel_size="3"), "kernel_size"), (dict(normalization="l2"), "normalization"),
    (dict(padding="causal"), "padding"),
]

RD_BAD = [(dict(rate_weight=-1.0), "rate_weight"), (dict(rate_weight="high"), "rate_weight"), (dict(log_speed=0), "log_speed"),
          (dict(seed=-1), "seed"), (dict(kernel_constraint="non_neg"), "kernel_constraint")]

REORDER_BAD = [(dict(rows=0), "rows"), (dict(rows=2.5), "rows"), (dict(kept=0), "kept"), (dict(kept="all"), "kept")]


def _make(cls, **defaults):
    def make(**kwargs):
        return cls(**{**defaults, **kwargs})

    return make


CASES = {
    "DCTConv2D-3x3": (_make(DCTConv2D, filters=6, kernel_size=3, padding="same", switch_off=0.5, mask_seed=1), (8, 8, 4), DCT_BAD),
    "DCTConv2D-1x1-tail": (_make(DCTConv2D, filters=6, kernel_size=1, switch_off=0.3, switch_off_policy="tail"), (8, 8, 20), DCT_BAD),
    "DCTConv2D-1x1-block2d-noise": (_make(DCTConv2D, filters=20, kernel_size=1, pointwise="channel_block_dct2d",
                                          pointwise_block=8, training_noise=0.1, switch_off=0.2), (8, 8, 19), DCT_BAD),
    "DCTDense": (_make(DCTDense, units=21, pointwise_block=8, switch_off=0.25), (19,), DCT_DENSE_BAD),
    "DCTDense-channel-dct-noise": (_make(DCTDense, units=5, pointwise="channel_dct", training_noise=0.05), (12,), DCT_DENSE_BAD),
    "DCTDense-ctnet-recipe": (_make(DCTDense, units=5, training_noise=0.1, coefficient_dropout=0.05, training_bits=8),
                              (12,), DCT_DENSE_BAD),
    "DCTConv2DTranspose": (_make(DCTConv2DTranspose, filters=5, kernel_size=3, strides=2, padding="same", switch_off=0.4),
                           (6, 6, 4), DCT_BAD),
    "FreqRegConv2D": (_make(FreqRegConv2D, filters=6, kernel_size=3, kept_fraction=0.3), (8, 8, 4), FREQREG_BAD),
    "FreqRegConv2DTranspose": (_make(FreqRegConv2DTranspose, filters=5, kernel_size=3, strides=2, kept_fraction=0.5),
                               (6, 6, 4), FREQREG_BAD),
    "FreqRegDense": (_make(FreqRegDense, units=7, kept_fraction=0.2), (12,), FREQREG_BAD),
    "FreqRegDense-plain-bias": (_make(FreqRegDense, units=7, spectral_bias=False, kept_fraction=0.6), (12,), FREQREG_BAD),
    "HarmonicConv-merged": (_make(HarmonicConv, filters=6, kernel_size=3, padding="same", levels=2), (8, 8, 4), HARMONIC_BAD),
    "HarmonicConv-unmerged": (_make(HarmonicConv, filters=6, kernel_size=3, strides=2, merged=False), (8, 8, 4), HARMONIC_BAD),
    "HarmonicConv-bn": (_make(HarmonicConv, filters=6, kernel_size=3, padding="same", batch_norm=True), (8, 8, 4), HARMONIC_BAD),
    "HarmonicConv-bn-unmerged": (_make(HarmonicConv, filters=6, kernel_size=3, strides=2, batch_norm=True, merged=False),
                                 (8, 8, 4), HARMONIC_BAD),
    "HarmonicConv-bn-affine": (_make(HarmonicConv, filters=6, kernel_size=3, batch_norm=True, batch_norm_affine=True,
                                     use_bias=False, normalization="l1"), (8, 8, 4), HARMONIC_BAD),
    "ReorderDCTConv2D": (_make(ReorderDCTConv2D, filters=6, kernel_size=3, padding="same", rows=4, kept=9), (8, 8, 4),
                         REORDER_BAD),
    "ReorderDCTDense": (_make(ReorderDCTDense, units=5, rows=2, kept=7), (12,), REORDER_BAD),
    "RDConv2D": (_make(RDConv2D, filters=6, kernel_size=3, padding="same", rate_weight=1e-3, seed=1), (8, 8, 4), RD_BAD),
    "RDConv2D-1x1": (_make(RDConv2D, filters=6, kernel_size=1, rate_weight=1e-3, log_speed=10.0), (8, 8, 5), RD_BAD),
    "RDConv2DTranspose": (_make(RDConv2DTranspose, filters=5, kernel_size=3, strides=2, padding="same", rate_weight=1e-3),
                          (6, 6, 4), RD_BAD),
    "RDDense": (_make(RDDense, units=7, rate_weight=1e-3), (12,), RD_BAD),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_passes_the_shared_harness(name, tmp_path):
    make, shape, bad = CASES[name]
    differences = run_layer_test(make, shape, bad, tmp_path=tmp_path)
    print(name, differences)
