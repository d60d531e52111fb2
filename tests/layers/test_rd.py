"""The rate–distortion layers: the loss a training call adds is
``rate_weight * warmup * rate`` (the rate recomputed with the same noise),
training under it shrinks the code length, a plain model converts with its
outputs kept within the quantization and folds exactly, and `RateWarmup`
ramps and logs the rate."""

import keras
import numpy as np
import pytest
from keras import ops

import dct_keras
from dct_keras import RDConv2D, RDDense, convert, fold
from dct_keras.callbacks import RateWarmup
from dct_keras.export.ship import load_shipped, save_shipped


def _np(x):
    return ops.convert_to_numpy(x)


def _plain(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(3)])


@pytest.mark.parametrize("rate_interval", [1, 3])
def test_a_training_call_adds_the_weighted_rate_with_its_seeded_noise(rate_interval):
    layer = RDConv2D(4, 3, rate_weight=0.01, rate_interval=rate_interval, seed=5)
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype("float32")
    layer(x)
    assert not layer.losses  # inference: no loss
    generator = keras.random.SeedGenerator(5)  # the layer's noise shifts, drawn again

    def rate():
        shift = keras.random.uniform((), 0.0, 1.0, seed=generator)
        return sum(float(_np(w.rate_bits(shift))) for w in layer.coded_weights)

    layer(x, training=True)
    (loss,) = layer.losses
    first = rate()
    np.testing.assert_allclose(float(_np(loss)), 0.01 * first, rtol=1e-5)
    layer.coding.warmup.assign(0.25)
    for call in range(1, 2 * rate_interval + 1):
        layer.spectral_kernel.coefficients.assign(_np(layer.coefficients) * 0.9)  # a training step
        layer(x, training=True)
        fresh = rate()
        if call % rate_interval == 0:  # a refresh: the current rate
            first = fresh
        assert float(_np(layer.losses[0])) == pytest.approx(0.25 * 0.01 * first, rel=1e-5)
    silent = RDConv2D(4, 3, rate_weight=0.0)
    silent(x, training=True)
    assert not silent.losses


def test_the_lagged_rates_variables_are_not_saved_shipped_or_counted(tmp_path):
    model = convert(_plain(), to="rd", rate_weight=1e-3, seed=0)
    every = convert(_plain(), to="rd", rate_weight=1e-3, rate_interval=1, seed=0)
    layer = dct_keras.spectral_layers(model)[0]
    assert len(layer.transient_variables()) == 1 + 2 * 5 and not dct_keras.spectral_layers(every)[0].transient_variables()
    assert dct_keras.count_params(model).total == dct_keras.count_params(every).total
    x = np.random.default_rng(3).standard_normal((4, 8, 8, 2)).astype("float32")
    model.compile("adam", "mse")
    model.fit(x, np.zeros((4, 3)), epochs=1, verbose=0)
    model.save(tmp_path / "lagged.keras")
    every.load_weights(tmp_path / "lagged.keras")  # same saved variables as a layer without the lagged rate
    np.testing.assert_allclose(_np(every(x)), _np(model(x)), atol=1e-6)
    loaded = keras.models.load_model(tmp_path / "lagged.keras")
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)), atol=1e-6)
    shipped, reference = save_shipped(model, tmp_path / "lagged.dctk"), save_shipped(every, tmp_path / "every.dctk")
    assert shipped["bytes"]["payload"] == reference["bytes"]["payload"]
    assert list(shipped["layers"].values()) == list(reference["layers"].values())
    np.testing.assert_allclose(_np(load_shipped(tmp_path / "lagged.dctk")(x)), _np(load_shipped(tmp_path / "every.dctk")(x)),
                               atol=1e-6)


def test_converting_keeps_the_outputs_within_the_quantization_and_folds_exactly():
    plain = _plain()
    x = np.random.default_rng(1).standard_normal((4, 8, 8, 2)).astype("float32")
    model = convert(plain, to="rd", rate_weight=1e-4, seed=0)
    assert [type(layer).__name__ for layer in dct_keras.spectral_layers(model)] == ["RDConv2D", "RDDense"]
    reference = _np(plain(x))
    assert np.abs(_np(model(x)) - reference).max() < 0.05 * np.abs(reference).max()
    folded = fold(model)
    assert not dct_keras.spectral_layers(folded)
    np.testing.assert_allclose(_np(folded(x)), _np(model(x)), atol=1e-5)


def test_training_under_the_rate_shrinks_the_code_length_and_warmup_logs_it():
    model = convert(_plain(2), to="rd", rate_weight=0.2, log_speed=10.0, seed=0)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 8, 8, 2)).astype("float32")
    y = rng.integers(0, 3, 64)
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = sum(float(_np(w.rate_bits())) for layer in dct_keras.spectral_layers(model) for w in layer.coded_weights)
    history = model.fit(x, y, epochs=5, batch_size=4, verbose=0, callbacks=[RateWarmup(warmup_epochs=2)])
    names = [layer.name for layer in dct_keras.spectral_layers(model)]
    assert set(f"rate/{name}" for name in names) <= set(history.history)
    rates = history.history["rate"]
    assert rates[-1] < 0.5 * before and rates[-1] == pytest.approx(sum(history.history[f"rate/{n}"][-1] for n in names))
    assert all(float(_np(layer.coding.warmup)) == 1.0 for layer in dct_keras.spectral_layers(model))


def test_rate_warmup_ramps_every_rate_distortion_layer():
    model = keras.Sequential([keras.Input((5,)), RDDense(4, rate_weight=1.0), RDDense(2, rate_weight=1.0)])
    warmup = RateWarmup(warmup_epochs=4)
    warmup.set_model(model)
    warmup.on_epoch_begin(0)
    assert [float(_np(layer.coding.warmup)) for layer in model.layers] == [0.25, 0.25]
    warmup.on_epoch_begin(5)
    assert [float(_np(layer.coding.warmup)) for layer in model.layers] == [1.0, 1.0]
    nothing = RateWarmup()
    nothing.set_model(_plain())
    with pytest.raises(ValueError, match="no rate term"):
        nothing.on_epoch_begin(0)
