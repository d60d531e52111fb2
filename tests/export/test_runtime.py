"""Runtime files (LiteRT float and full-integer, ONNX) of every spectral family,
run in the runtimes themselves (ai-edge-litert's interpreter, onnxruntime)
and compared with the Keras model's outputs; skipped where the deploy extra
is not installed."""

import os

import keras
import numpy as np
import pytest

import dct_keras
from dct_keras.compression import compress
from dct_keras.export import runtime
from dct_keras.export.ship import save_shipped
from dct_keras.surgery import convert

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="LiteRT files are made by the TFLite converter (TensorFlow backend)")

FAMILIES = {
    "plain": lambda model: model,
    "dct": lambda model: convert(model, to="dct", switch_off=0.5, dense=True, seed=0),
    "freqreg": lambda model: convert(model, to="freqreg", kept_fraction=0.4),
    "harmonic": lambda model: convert(model, to="harmonic", levels=2),
    "reorder_dct": lambda model: compress(model, rows=4, compression_rate=2, progress=False),
    "rd": lambda model: convert(model, to="rd", seed=0),
}


def _plain():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2)(x)
    x = keras.layers.Conv2DTranspose(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(5)(x))


def _inputs(count, seed):
    return np.random.default_rng(seed).standard_normal((count, 12, 12, 3)).astype("float32")


def _relative_error(got, expected):
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


@pytest.fixture(scope="module")
def models():
    return {name: make(_plain()) for name, make in FAMILIES.items()}


@pytest.mark.parametrize("fmt", runtime.RUNTIME_FORMATS)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_float_file_computes_what_the_keras_model_computes(models, family, fmt, tmp_path):
    pytest.importorskip("onnxruntime" if fmt == "onnx" else "ai_edge_litert")
    if fmt == "onnx":
        pytest.importorskip("tf2onnx")
    model, held_out = models[family], _inputs(37, seed=1)  # 37: a batch the file was not traced with
    path = str(tmp_path / f"model{runtime.SUFFIXES[fmt]}")
    sizes = runtime.export_runtime(model, path, format=fmt)
    assert sizes["bytes"] == os.path.getsize(path) and 0 < sizes["gzip_bytes"] < sizes["bytes"]
    assert _relative_error(runtime.runtime_predict(path, held_out, batch_size=16), model.predict(held_out, verbose=0)) < 1e-4


def test_a_folded_file_holds_no_spectral_op(models, tmp_path):
    """The spectral model is folded before export: its file is the plain
    model's size, not its coefficients plus the transform."""
    pytest.importorskip("ai_edge_litert")
    folded = runtime.export_runtime(models["dct"], str(tmp_path / "dct.tflite"))["bytes"]
    plain = runtime.export_runtime(dct_keras.fold(models["dct"]), str(tmp_path / "plain.tflite"))["bytes"]
    assert abs(folded - plain) < 0.02 * plain


@pytest.mark.parametrize("family", ["plain", "freqreg", "rd"])
def test_full_integer_file_is_int8_and_close_to_float(models, family, tmp_path):
    interpreter_module = pytest.importorskip("ai_edge_litert.interpreter")
    model, path = models[family], str(tmp_path / "int8.tflite")
    runtime.export_runtime(model, path, int8=True, representative=_inputs(64, seed=2))
    interpreter = interpreter_module.Interpreter(model_path=path)
    assert interpreter.get_input_details()[0]["dtype"] == np.int8 and interpreter.get_output_details()[0]["dtype"] == np.int8
    tensors = [d for d in interpreter.get_tensor_details() if len(d["shape"]) == 4 and d["shape"][0] == 8]  # conv kernels
    assert tensors and all(d["dtype"] == np.int8 for d in tensors)
    held_out = _inputs(64, seed=4)
    got, expected = runtime.runtime_predict(path, held_out), model.predict(held_out, verbose=0)
    # int8 activations (inputs beyond the calibrated range clip): about 1.5 % mean error here, not the float file's 1e-6
    assert np.mean(np.abs(got - expected)) < 0.05 * np.mean(np.abs(expected))
    assert np.mean(np.argmax(got, -1) == np.argmax(expected, -1)) >= 0.9


def test_a_model_needing_tensorflow_ops_is_refused(tmp_path):
    inputs = keras.Input((6,))
    outputs = keras.layers.Lambda(lambda x: keras.ops.erfinv(keras.ops.tanh(x) * 0.5), output_shape=(4,))(keras.layers.Dense(4)(inputs))
    path = tmp_path / "flex.tflite"
    with pytest.raises(runtime.RuntimeExportError, match="Erfinv.*Flex"):
        runtime.export_runtime(keras.Model(inputs, outputs), str(path))
    assert not path.exists() and not list(tmp_path.iterdir())


def test_arguments_are_checked(models, tmp_path):
    with pytest.raises(ValueError, match="`format`"):
        runtime.export_runtime(models["plain"], str(tmp_path / "m.bin"), format="coreml")
    with pytest.raises(ValueError, match="ends with .tflite"):
        runtime.export_runtime(models["plain"], str(tmp_path / "m.onnx"))
    with pytest.raises(ValueError, match="`representative`"):
        runtime.export_runtime(models["plain"], str(tmp_path / "m.tflite"), int8=True)
    with pytest.raises(ValueError, match="LiteRT"):
        runtime.export_runtime(models["plain"], str(tmp_path / "m.onnx"), format="onnx", int8=True)


def test_a_missing_dependency_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an environment without it gives an import
    with pytest.raises(runtime.MissingDependencyError, match=r"'onnxruntime'.*dct_keras\[deploy\]"):
        runtime.require("onnxruntime", "Running ONNX files")


def test_command_exports_a_shipped_file_and_checks_it(models, tmp_path, capsys):
    pytest.importorskip("ai_edge_litert")
    from dct_keras.experiment.commands import main

    shipped, out = str(tmp_path / "m.dctk"), str(tmp_path / "m.tflite")
    save_shipped(models["freqreg"], shipped, bits=8)
    x = np.random.default_rng(5).integers(0, 256, (40, 12, 12, 3), dtype=np.uint8)  # pixels, as a user's data holds them
    data = str(tmp_path / "data.npz")
    np.savez(data, x_train=x[:24], y_train=np.arange(24) % 5, x_test=x[24:], y_test=np.arange(16) % 5)
    assert main(["export", shipped, "--format", "litert", "--int8", "--data", data, "--input-normalization", "raw",
                 "--out", out]) in (None, 0)
    printed = capsys.readouterr().out
    assert os.path.exists(out) and "int8" in printed and "accuracy" in printed
    with pytest.raises(SystemExit) as refused:  # no calibration data
        main(["export", shipped, "--format", "litert", "--int8", "--out", out])
    assert refused.value.code == 2 and "--data" in capsys.readouterr().err
