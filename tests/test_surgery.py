import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

import dct_keras
from dct_keras import DCTConv2D, DCTConv2DTranspose, convert, count_params, fold


def _np(x):
    return ops.convert_to_numpy(x)


def _plain_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv3")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(20, 1, activation="relu", name="conv1")(x)
    y = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="deconv")(x)
    y = keras.layers.Conv2D(2, 1, use_bias=False, name="head")(y)
    return keras.Model(inputs, y)


def _randomize(model, rng):
    for layer in model.layers:
        layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()])


@pytest.fixture
def model(rng):
    model = _plain_model()
    _randomize(model, rng)
    return model


@pytest.fixture
def x(rng):
    return rng.standard_normal((2, 8, 8, 3)).astype("float32")


def test_convert_keeps_outputs(model, x):
    converted = convert(model)
    kinds = {layer.name: type(layer) for layer in converted.layers}
    assert kinds["conv3"] is DCTConv2D and kinds["conv1"] is DCTConv2D
    assert kinds["deconv"] is DCTConv2DTranspose and kinds["head"] is DCTConv2D
    assert kinds["bn"] is keras.layers.BatchNormalization
    np.testing.assert_allclose(_np(converted(x)), _np(model(x)), atol=1e-5, rtol=1e-5)


def test_convert_only_spatial_leaves_1x1(model, x):
    converted = convert(model, only_spatial=True)
    kinds = {layer.name: type(layer) for layer in converted.layers}
    assert kinds["conv3"] is DCTConv2D and kinds["deconv"] is DCTConv2DTranspose
    assert kinds["conv1"] is keras.layers.Conv2D and kinds["head"] is keras.layers.Conv2D
    np.testing.assert_allclose(_np(converted(x)), _np(model(x)), atol=1e-5, rtol=1e-5)


def test_convert_with_switch_off_masks_the_forward_dct(model):
    converted = convert(model, switch_off=0.5, seed=0)
    layer = converted.get_layer("conv3")
    expected = _np(dct_keras.spectral.dctn(_np(model.get_layer("conv3").kernel), (0, 1)))
    np.testing.assert_allclose(_np(layer.coefficients), expected * _np(layer.mask), atol=1e-5)
    assert 0 < layer.spectral_kernel.active_count() < layer.spectral_kernel.size


def test_convert_seed_is_reproducible_and_layers_differ(model):
    a = convert(model, switch_off=0.5, seed=4)
    b = convert(model, switch_off=0.5, seed=4)
    c = convert(model, switch_off=0.5, seed=5)
    seeds = [layer.mask_seed for layer in a.layers if isinstance(layer, DCTConv2D)]
    assert len(set(seeds)) == len(seeds)
    assert seeds == [layer.mask_seed for layer in b.layers if isinstance(layer, DCTConv2D)]
    assert seeds != [layer.mask_seed for layer in c.layers if isinstance(layer, DCTConv2D)]


def test_convert_without_weights_reinitializes_coefficients(model):
    converted = convert(model, keep_weights=False)
    layer = converted.get_layer("conv3")
    forward = _np(dct_keras.spectral.dctn(_np(model.get_layer("conv3").kernel), (0, 1)))
    assert not np.allclose(_np(layer.coefficients), forward)
    np.testing.assert_array_equal(_np(layer.bias), 0.0)  # the bias initializer, zeros
    np.testing.assert_array_equal(
        converted.get_layer("bn").get_weights()[0], model.get_layer("bn").get_weights()[0]
    )


def test_convert_then_fold_gives_original_outputs(model, x):
    folded = fold(convert(model))
    assert all(not isinstance(layer, (DCTConv2D, DCTConv2DTranspose)) for layer in folded.layers)
    np.testing.assert_allclose(_np(folded(x)), _np(model(x)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("policy", ["random", "tail"])
def test_fold_keeps_switched_off_outputs(model, x, policy):
    converted = convert(model, switch_off=0.7, seed=1, switch_off_policy=policy)
    assert converted.get_layer("conv3").switch_off_policy == policy
    np.testing.assert_allclose(_np(fold(converted)(x)), _np(converted(x)), atol=1e-5, rtol=1e-5)


def test_folded_model_loads_without_dct_keras(model, x, tmp_path):
    folded = fold(convert(model, switch_off=0.3, seed=2))
    path = tmp_path / "folded.keras"
    folded.save(path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", _np(folded(x)))
    script = (
        "import sys; sys.modules['dct_keras'] = None\n"  # any import of dct_keras now fails
        "import keras, numpy as np\n"
        f"m = keras.models.load_model(r'{path}')\n"
        f"x = np.load(r'{tmp_path / 'x.npy'}'); y = np.load(r'{tmp_path / 'y.npy'}')\n"
        "np.testing.assert_allclose(keras.ops.convert_to_numpy(m(x)), y, atol=1e-6)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_count_params(model):
    plain = count_params(model)
    assert plain.total == model.count_params()
    assert plain.trainable == plain.active == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    converted = convert(model, switch_off=0.5, seed=0)
    report = count_params(converted)
    assert (report.total, report.trainable) == (plain.total, plain.trainable)
    conv3 = report.layers["conv3"]
    kernel_size = 3 * 3 * 3 * 8
    assert (conv3.total, conv3.trainable) == (kernel_size + 8, kernel_size + 8)
    assert conv3.active == kernel_size - int(np.floor(0.5 * kernel_size + 0.5)) + 8
    assert report.active == sum(c.active for c in report.layers.values())
    assert "TOTAL" in report.format_table()


def test_count_params_of_frozen_layer(model):
    converted = convert(model, switch_off=0.5, seed=0)
    converted.get_layer("conv3").trainable = False
    conv3 = count_params(converted).layers["conv3"]
    assert conv3.trainable == conv3.active == 0 and conv3.total == 224


def test_convert_rejects_bad_arguments(model):
    with pytest.raises(ValueError, match="switch_off"):
        convert(model, switch_off=2)

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="Functional or Sequential"):
        convert(Subclassed())


def test_convert_sequential(rng):
    model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 3), keras.layers.Flatten()])
    x = rng.standard_normal((1, 6, 6, 2)).astype("float32")
    converted = convert(model)
    assert isinstance(converted.layers[0], DCTConv2D)
    np.testing.assert_allclose(_np(converted(x)), _np(model(x)), atol=1e-5)


@pytest.mark.parametrize("family,options", [("freqreg", {}), ("harmonic", {}), ("dct", {"switch_off": 0.0})])
def test_convert_to_every_family_keeps_outputs_and_folds_back(family, options, model, x):
    converted = convert(model, to=family, **options)
    expected = {"freqreg": "FreqReg", "harmonic": "HarmonicConv", "dct": "DCTConv2D"}[family]
    assert any(type(layer).__name__.startswith(expected) for layer in dct_keras.spectral_layers(converted))
    np.testing.assert_allclose(_np(converted(x)), _np(model(x)), atol=1e-4, rtol=1e-4)
    folded = fold(converted)
    assert not dct_keras.spectral_layers(folded)
    np.testing.assert_allclose(_np(folded(x)), _np(model(x)), atol=1e-4, rtol=1e-4)


def test_convert_rejects_an_unknown_family(model):
    with pytest.raises(ValueError, match="`to`.*dct"):
        convert(model, to="wavelet")


def test_walker_descends_nested_models_and_containers(rng):
    class Container(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = [DCTConv2D(3, 3, padding="same", switch_off=0.5), keras.layers.ReLU()]

        def build(self, input_shape):
            for layer in self.inner:
                layer.build(input_shape)

        def call(self, x):
            for layer in self.inner:
                x = layer(x)
            return x

    inner = keras.Sequential([keras.Input((8, 8, 3)), dct_keras.FreqRegConv2D(3, 3, padding="same")], name="inner")
    inputs = keras.Input((8, 8, 3))
    outputs = Container()(inner(inputs))
    model = keras.Model(inputs, dct_keras.HarmonicConv(2, 3)(outputs))
    kinds = [type(layer).__name__ for layer in dct_keras.spectral_layers(model)]
    assert kinds == ["FreqRegConv2D", "DCTConv2D", "HarmonicConv"]
    assert len(dct_keras.spectral_weights(model)) == 3  # FreqReg kernel + bias, DCT-Conv kernel; harmonic has none
