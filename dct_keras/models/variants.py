"""Layer factory shared by the papers' model builders.

A builder asks the factory for each convolution (and dense layer); the variant
decides what it gets:

* ``"plain"`` – plain `keras.layers.Conv2D` / `Conv2DTranspose` / `Dense`
  (the paper's "CNN");
* ``"dct"`` – DCT-Conv for every kernel, 1x1 kernels over 16-channel sub-rows
  (dct_conv.txt §V-G and Table V); dense layers stay plain;
* ``"dct_spatial"`` – DCT-Conv only for kernels larger than 1x1 (Table V's
  "only 3x3 filters"); the network's first convolution is a DCT-Conv layer
  with nothing switched off, whatever p: at p = 1 every other 3x3 filter is
  zero and the paper still reports 0.3416 on CIFAR-100, which only a working
  first layer allows (the 1x1 shortcuts then carry its features);
* ``"freqreg"`` – the FreqReg layers for convolutions and dense layers
  (frequency_regularization.txt), all coefficients kept until a
  `TailDropout` callback shrinks them.

The DCT-Conv models use the orthogonal initializer for every filter /
coefficient tensor (dct_conv.txt §V-B); the default is set per builder.
"""

import keras
import numpy as np

import dct_keras.layers  # noqa: F401 - registers the spectral families
from dct_keras.layers.base import FAMILIES
from dct_keras.spectral.masks import check_probability

PLAIN = "plain"  # the unmodified Keras model (the papers' "CNN", "baseline")
VARIANTS = (PLAIN, "dct", "dct_spatial", "freqreg")


def check_variant(variant, choices=VARIANTS):
    """Returns ``variant``; raises ValueError naming the choices for an unknown one."""
    if variant not in choices:
        raise ValueError(f"Invalid value for argument `variant`: expected one of {tuple(choices)}, received {variant!r}.")
    return variant


class LayerFactory:
    """Creates the convolutions and dense layers of one model in a variant.

    Args:
        variant: one of ``VARIANTS``.
        switch_off: switch-off probability of the DCT-Conv layers.
        switch_off_policy: "random" (the paper) or "tail" (highest frequencies).
        seed: seeds the per-layer mask seeds (None: drawn at random).
        kernel_initializer: initializer of every filter / coefficient tensor.
    """

    def __init__(self, variant=PLAIN, switch_off=0.0, seed=None, kernel_initializer="orthogonal", switch_off_policy="random"):
        variant = check_variant(variant)
        check_probability(switch_off, "switch_off")
        if variant in (PLAIN, "freqreg") and switch_off:
            raise ValueError(f"Invalid value for argument `switch_off`: the {variant!r} variant has no random switch-off.")
        self.variant = variant
        self.switch_off = switch_off
        self.switch_off_policy = switch_off_policy
        self.kernel_initializer = kernel_initializer
        self._rng = np.random.default_rng(seed)
        self._first = True  # the next convolution is the network's first

    def conv(self, filters, kernel_size, **kwargs):
        return self._make(keras.layers.Conv2D, filters, kernel_size, kwargs)

    def conv_transpose(self, filters, kernel_size, **kwargs):
        return self._make(keras.layers.Conv2DTranspose, filters, kernel_size, kwargs)

    def dense(self, units, **kwargs):
        kwargs.setdefault("kernel_initializer", self.kernel_initializer)
        return (FAMILIES["freqreg"][keras.layers.Dense] if self.variant == "freqreg" else keras.layers.Dense)(units, **kwargs)

    def _make(self, plain_cls, filters, kernel_size, kwargs):
        kwargs.setdefault("kernel_initializer", self.kernel_initializer)
        if self.variant == "freqreg":
            return FAMILIES["freqreg"][plain_cls](filters, kernel_size, **kwargs)
        first, self._first = self._first, False
        pointwise = all(k == 1 for k in np.atleast_1d(kernel_size))
        if self.variant == PLAIN or (self.variant == "dct_spatial" and pointwise):
            return plain_cls(filters, kernel_size, **kwargs)
        seed = int(self._rng.integers(0, 2**31 - 1))
        switch_off = 0.0 if first and self.variant == "dct_spatial" else self.switch_off
        return FAMILIES["dct"][plain_cls](
            filters, kernel_size, switch_off=switch_off, switch_off_policy=self.switch_off_policy, mask_seed=seed, **kwargs
        )
