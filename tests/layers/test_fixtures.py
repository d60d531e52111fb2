"""`.keras` files written by an earlier version of the library still load and
compute what they computed then (tests/fixtures/make_layer_fixtures.py wrote
them; its folder name is the commit)."""

import glob
import os

import keras
import numpy as np
import pytest

import dct_keras

from tests.paths import ROOT

FOLDERS = sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "layers-*")))
CASES = [(folder, os.path.basename(path)[: -len(".keras")])
         for folder in FOLDERS for path in sorted(glob.glob(os.path.join(folder, "*.keras")))]


@pytest.mark.parametrize("folder,name", CASES, ids=[f"{os.path.basename(f)}-{n}" for f, n in CASES])
def test_saved_layer_loads_and_computes_the_same(folder, name):
    expected = np.load(os.path.join(folder, "expected.npz"))
    x, y = expected[f"{name}/x"], expected[f"{name}/y"]
    model = keras.models.load_model(os.path.join(folder, f"{name}.keras"))
    assert dct_keras.spectral_layers(model)
    scale = max(1.0, float(np.abs(y).max()))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), y, rtol=0, atol=1e-5 * scale)
    folded = dct_keras.fold(model)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(folded(x, training=False)), y, rtol=0, atol=1e-5 * scale)


def test_every_public_layer_has_a_fixture():
    saved = set()
    for folder, name in CASES:
        config = keras.models.load_model(os.path.join(folder, f"{name}.keras")).layers[0]
        saved.add(type(config).__name__)
    public = {name for name in dct_keras.layers.__all__ if name[0].isupper()}
    assert public <= saved, public - saved
