"""The examples in the public docstrings run as written (doctest)."""

import doctest
import importlib

import keras
import numpy as np
import pytest

import dct_keras

MODULES = [
    "dct_keras.layers.dct_conv", "dct_keras.layers.dct_conv_transpose", "dct_keras.layers.dct_dense",
    "dct_keras.layers.freqreg_conv", "dct_keras.layers.freqreg_conv_transpose", "dct_keras.layers.freqreg_dense",
    "dct_keras.layers.harmonic", "dct_keras.layers.reorder_dct_conv", "dct_keras.layers.reorder_dct_dense",
    "dct_keras.regularizers", "dct_keras.callbacks", "dct_keras.surgery", "dct_keras.accounting",
    "dct_keras.export.ship", "dct_keras.spectral.bases", "dct_keras.spectral.masks", "dct_keras.spectral.weight",
]


def _examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    for name in MODULES:
        module = importlib.import_module(name)
        for test in finder.find(module, globs={**vars(module), "np": np, "keras": keras, "dct_keras": dct_keras}):
            if test.examples and test.name.startswith(name):
                yield pytest.param(test, id=test.name)


@pytest.mark.parametrize("test", list(_examples()))
def test_docstring_example_runs(test):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    keras.utils.set_random_seed(0)
    runner.run(test)
    assert runner.failures == 0, test.name


def test_the_public_layers_have_examples():
    names = {param.id.split(".")[-1] for param in _examples()}
    for layer in ("DCTConv2D", "DCTDense", "FreqRegConv2D", "HarmonicConv", "ReorderDCTConv2D"):
        assert layer in names, layer
