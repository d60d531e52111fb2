"""A shared test for every spectral layer (after keras's `run_layer_test`).

`run_layer_test` checks, on whatever Keras backend runs the tests: build and
call; ``get_config`` / ``from_config`` (same config, same outputs with the same
weights); a ``.keras`` save / load (same config, masks and outputs); `fold` to
plain Keras (same outputs, no dct_keras layer left); each bad argument
rejected with a ValueError naming it. It returns the largest absolute output
differences it measured.
"""

import keras
import numpy as np
import pytest

import dct_keras
from dct_keras.layers.base import FamilyLayer


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _perturb(model, rng):
    """Moves every weight off its initial value (masked coefficients stay
    zero), so a round trip that loses state cannot pass by chance."""
    for layer in dct_keras.spectral_layers(model):
        if hasattr(layer, "set_order"):
            layer.set_order(rng.permutation(layer.columns))
        masked = {id(w.coefficients): w for w in layer.spectral_weights}
        state = {id(v) for w in layer.spectral_weights for v in w.state_variables}
        for variable in layer.weights:
            if id(variable) in state or variable.dtype not in ("float32", "float64"):
                continue
            noise = rng.standard_normal(tuple(variable.shape)).astype("float32") * 0.1
            if "variance" in variable.path:
                noise = np.abs(noise) + 0.5
            if id(variable) in masked:
                noise = noise * masked[id(variable)].mask_numpy()
            variable.assign(_np(variable) + noise)


def run_layer_test(make, input_shape, bad_args=(), tmp_path=None, atol=1e-5):
    """Runs the shared checks on ``make(**kwargs)``; returns ``{"config",
    "saved", "fold"}`` -> max abs output difference."""
    rng = np.random.default_rng(0)
    layer = make()
    assert isinstance(layer, FamilyLayer)
    model = keras.Sequential([keras.Input(input_shape), layer])
    x = rng.standard_normal((2,) + tuple(input_shape)).astype("float32")
    _perturb(model, rng)
    y = _np(model(x, training=False))
    assert np.all(np.isfinite(y))
    differences = {}

    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    cloned = keras.Sequential([keras.Input(input_shape), clone])
    cloned.set_weights(model.get_weights())
    differences["config"] = float(np.abs(_np(cloned(x, training=False)) - y).max())

    path = tmp_path / f"{type(layer).__name__}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    new = loaded.layers[0]
    assert type(new) is type(layer) and new.get_config() == layer.get_config()
    for old_weight, new_weight in zip(layer.spectral_weights, new.spectral_weights):
        np.testing.assert_array_equal(new_weight.mask_numpy(), old_weight.mask_numpy())
        assert new_weight.extents == old_weight.extents
    differences["saved"] = float(np.abs(_np(loaded(x, training=False)) - y).max())

    folded = dct_keras.fold(model)
    assert not dct_keras.spectral_layers(folded)
    assert type(folded.layers[0]) is layer.plain_class()
    differences["fold"] = float(np.abs(_np(folded(x, training=False)) - y).max())

    assert differences["config"] == 0.0 and differences["saved"] == 0.0, differences
    assert differences["fold"] <= atol * max(1.0, float(np.abs(y).max())), differences

    for kwargs, argument in bad_args:
        with pytest.raises(ValueError, match=f"`{argument}`"):
            make(**kwargs)
    return differences
