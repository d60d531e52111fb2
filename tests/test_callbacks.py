import keras
import numpy as np
import pytest
from keras import ops

import dct_keras
from dct_keras import DCTConv2D, FreqRegConv2D, FreqRegDense
from dct_keras.callbacks import TailDropout


def _model():
    return keras.Sequential([
        keras.Input((8, 8, 2)),
        FreqRegConv2D(4, 3, activation="relu"),
        DCTConv2D(4, 3, switch_off=0.0),
        keras.layers.Flatten(),
        FreqRegDense(3),
    ])


def _data(rng):
    return rng.standard_normal((16, 8, 8, 2)).astype("float32"), rng.standard_normal((16, 3)).astype("float32")


def _fractions(model):
    return [float(w.kept_fraction) for w in dct_keras.spectral_weights(model)]


def test_schedule_follows_the_formula_and_converges(rng):
    model = _model()
    model.compile(keras.optimizers.Adam(0.01), "mse")  # momentum must not revive dropped coefficients
    gamma, epsilon = 0.3, 0.1
    history = model.fit(*_data(rng), epochs=13, batch_size=8, verbose=0, callbacks=[TailDropout(gamma, epsilon, min_kept=1)])
    beta = 1.0
    for _ in range(12):  # after every epoch but the last
        beta = beta - gamma * (beta - epsilon)
    driven = model.layers[0].spectral_weights + model.layers[3].spectral_weights
    np.testing.assert_allclose([float(w.kept_fraction) for w in driven], beta, rtol=1e-6)
    assert float(model.layers[1].spectral_kernel.kept_fraction) == 1.0  # DCT-Conv keeps its own switch-off
    assert abs(beta - epsilon) < 0.02
    for w in driven:
        assert w.active_count() == max(int(np.floor(beta * w.size + 0.5)), 1)
        np.testing.assert_array_equal(w.mask_numpy(), w.zigzag_mask(w.active_count()))
        np.testing.assert_array_equal(ops.convert_to_numpy(w.coefficients)[~w.mask_numpy()], 0.0)
    model.fit(*_data(rng), epochs=2, batch_size=8, verbose=0)  # Adam's momentum of dropped entries is stale
    for w in dct_keras.spectral_weights(model):
        np.testing.assert_array_equal(ops.convert_to_numpy(w.coefficients)[~w.mask_numpy()], 0.0)
    logged = history.history["kept_fraction/" + model.layers[0].name]
    assert len(logged) == 13 and logged[0] == 1.0 and logged[0] > logged[-1]  # what each epoch trained with
    assert history.history["nonzero"][-1] < history.history["nonzero"][0]


def test_min_kept_floor(rng):
    model = _model()
    model.compile("sgd", "mse")
    model.fit(*_data(rng), epochs=3, batch_size=8, verbose=0, callbacks=[TailDropout(1.0, 0.0, min_kept=2)])
    counts = [w.active_count() for layer in (model.layers[0], model.layers[3]) for w in layer.spectral_weights]
    assert counts and all(c == 2 for c in counts)


def test_evaluate_and_predict_do_not_advance(rng):
    model = _model()
    model.compile("sgd", "mse")
    x, y = _data(rng)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[TailDropout(0.5, 0.1)])
    before = _fractions(model)
    for _ in range(3):
        model.evaluate(x, y, verbose=0)
        model.predict(x, verbose=0)
    assert _fractions(model) == before


class _StopAfter(keras.callbacks.Callback):
    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = epoch + 1 >= self.epochs


def test_resumed_run_continues_the_schedule(rng, tmp_path):
    x, y = _data(rng)
    straight = _model()
    straight.compile("sgd", "mse")
    straight.fit(x, y, epochs=4, verbose=0, callbacks=[TailDropout(0.5, 0.1)])
    first = _model()  # killed after epoch 2 of 4, its checkpoint loaded and fitted on
    first.compile("sgd", "mse")
    first.fit(x, y, epochs=4, verbose=0, callbacks=[TailDropout(0.5, 0.1), _StopAfter(2)])
    first.save(tmp_path / "checkpoint.keras")
    resumed = keras.models.load_model(tmp_path / "checkpoint.keras")
    resumed.fit(x, y, epochs=4, initial_epoch=2, verbose=0, callbacks=[TailDropout(0.5, 0.1)])
    np.testing.assert_allclose(_fractions(resumed), _fractions(straight), rtol=1e-6)
    # One epoch per call with one instance (the experiment runner): the same schedule again.
    stepwise, tail = _model(), TailDropout(0.5, 0.1)
    stepwise.compile("sgd", "mse")
    for epoch in range(4):
        stepwise.fit(x, y, epochs=4, initial_epoch=epoch, verbose=0, callbacks=[tail, _StopAfter(epoch + 1)])
    np.testing.assert_allclose(_fractions(stepwise), _fractions(straight), rtol=1e-6)
    # Separate fit calls with one instance: the update deferred after a call's last epoch comes at the next call.
    calls, tail = _model(), TailDropout(0.5, 0.1)
    calls.compile("sgd", "mse")
    calls.fit(x, y, epochs=2, verbose=0, callbacks=[tail])
    calls.fit(x, y, epochs=2, verbose=0, callbacks=[tail])
    np.testing.assert_allclose(_fractions(calls), _fractions(straight), rtol=1e-6)


@pytest.mark.parametrize("schedule", ["dynamic", "static", "random"])
def test_fit_returns_the_model_it_trained(schedule, rng):
    # The model fit returns scores on held-out data what fit's last epoch reported, whatever the schedule.
    x, y = _data(rng)
    held_out = (x[:8] + 0.1, y[:8])
    model = _model()
    model.compile("sgd", "mse")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_data=held_out,
                        callbacks=[TailDropout(0.6, 0.1, schedule=schedule)])
    assert model.evaluate(*held_out, verbose=0) == pytest.approx(history.history["val_loss"][-1], rel=1e-5)
    assert history.history["nonzero"][-1] == sum(w.active_count() for layer in (model.layers[0], model.layers[3])
                                                  for w in layer.spectral_weights)


@pytest.mark.parametrize("schedule", ["static", "random"])
def test_static_and_random_schedules_apply_epsilon_from_the_start(schedule, rng):
    model = _model()
    model.compile("sgd", "mse")
    model.fit(*_data(rng), epochs=2, verbose=0, callbacks=[TailDropout(epsilon=0.25, schedule=schedule, seed=3)])
    weights = model.layers[0].spectral_weights + model.layers[3].spectral_weights
    for w in weights:
        assert w.active_count() == max(int(np.floor(0.25 * w.size + 0.5)), 1)
        assert float(w.kept_fraction) == 0.25
    zigzag = all(np.array_equal(w.mask_numpy(), w.zigzag_mask(w.active_count())) for w in weights)
    assert zigzag == (schedule == "static")


def test_callback_needs_spectral_layers(rng):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="no layers to drive"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 1)), verbose=0, callbacks=[TailDropout()])


@pytest.mark.parametrize(
    "kwargs,argument",
    [
        (dict(gamma=0), "gamma"), (dict(gamma=1.5), "gamma"), (dict(gamma="fast"), "gamma"),
        (dict(epsilon=-0.1), "epsilon"), (dict(epsilon=2), "epsilon"),
        (dict(min_kept=-1), "min_kept"), (dict(min_kept=1.5), "min_kept"),
        (dict(schedule="cosine"), "schedule"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        TailDropout(**kwargs)


def test_per_layer_kind_floors(rng):
    model = _model()
    model.compile("adam", "mse")
    floors = {"conv": 20, "dense": 30}
    model.fit(*_data(rng), epochs=2, verbose=0, callbacks=[TailDropout(gamma=1.0, epsilon=0.0, min_kept=floors)])
    conv, dct, _, dense = model.layers
    assert conv.spectral_kernel.active_count() == 20 and dct.spectral_kernel.active_count() == dct.spectral_kernel.size
    assert dense.spectral_kernel.active_count() == 30
    assert conv.bias_weight.active_count() == 4  # a floor above the size keeps everything
    with pytest.raises(ValueError, match="min_kept"):
        TailDropout(min_kept={"lstm": 3})


def test_magnitude_pruning_follows_the_polynomial_schedule_and_keeps_pruned_weights_zero():
    from dct_keras.callbacks import MagnitudePruning

    pruning = MagnitudePruning(0.8, end_step=20, begin_step=4, frequency=2)
    for step in (0, 4, 9, 20, 30):
        progress = min(1.0, max(0.0, (step - 4) / 16))
        assert pruning.sparsity(step) == pytest.approx(0.8 * (1 - (1 - progress) ** 3))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).random((96, 12)).astype("float32"), np.arange(96) % 3
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[pruning])  # 24 steps: the schedule ends at 20
    kernels = [keras.ops.convert_to_numpy(layer.kernel) for layer in model.layers]
    total = sum(k.size for k in kernels)
    zeros = [k == 0 for k in kernels]
    assert sum(z.sum() for z in zeros) == round(0.8 * total)  # one global threshold over every kernel
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[pruning])  # a new fit reads the mask from the zeros
    for layer, zero in zip(model.layers, zeros):
        assert np.all(keras.ops.convert_to_numpy(layer.kernel)[zero] == 0)
    with pytest.raises(ValueError, match="final_sparsity"):
        MagnitudePruning(1.0, end_step=10)


def test_keep_zeros_holds_the_zeros_of_a_pruned_model_through_training():
    from dct_keras.callbacks import KeepZeros

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    rng = np.random.default_rng(1)
    zeros = [rng.random(layer.kernel.shape) < 0.6 for layer in model.layers]
    for layer, zero in zip(model.layers, zeros):
        layer.kernel.assign(np.where(zero, 0.0, keras.ops.convert_to_numpy(layer.kernel)))
    before = [keras.ops.convert_to_numpy(layer.kernel).copy() for layer in model.layers]
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = rng.random((64, 12)).astype("float32"), np.arange(64) % 3
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[KeepZeros()])
    for layer, zero, old in zip(model.layers, zeros, before):
        new = keras.ops.convert_to_numpy(layer.kernel)
        assert np.all(new[zero] == 0) and not np.allclose(new[~zero], old[~zero])  # the rest trained
    total = sum(z.size for z in zeros)
    assert history.history["pruned_fraction"][-1] == pytest.approx(sum(z.sum() for z in zeros) / total)


def test_recalibration_sets_the_moving_statistics_to_the_average_batch_statistics():
    from dct_keras.callbacks import recalibrate_normalization

    keras.utils.set_random_seed(2)
    dense = keras.layers.Dense(6)
    norm = keras.layers.BatchNormalization()
    dropout = keras.layers.Dropout(0.5)
    model = keras.Sequential([keras.Input((5,)), dense, dropout, norm])
    images = np.random.default_rng(2).standard_normal((96, 5)).astype("float32") * 3 + 1
    recalibrate_normalization(model, images, batch_size=32)
    # NumPy reference: the mean over the three batches of each batch's mean and (biased) variance of x W + b.
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in dense.weights)
    responses = (images @ kernel + bias).reshape(3, 32, 6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(norm.moving_mean), responses.mean(axis=1).mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(norm.moving_variance), responses.var(axis=1).mean(axis=0), rtol=1e-4)
    assert norm.momentum == 0.99 and dropout.rate == 0.5  # restored
