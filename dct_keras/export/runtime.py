"""Runtime files: LiteRT (``.tflite``, float or full-integer) and ONNX, and
their outputs in the runtimes that run them.

`export_runtime(model, path, format)` folds a spectral model first
(`surgery.fold`: every spectral layer becomes the plain layer it stands for,
so no spectral op reaches the runtime), then exports it with Keras's own
exporter (`model.export`): LiteRT through the TFLite converter restricted to
LiteRT's builtin ops – a graph that would need TensorFlow (Flex / select)
ops is refused with `RuntimeExportError`, where Keras's default would embed
them silently – and ONNX through tf2onnx. ``int8=True`` gives a full-integer
LiteRT file: int8 weights and activations, int8 input and output, the
activation ranges calibrated on ``representative`` inputs.

`runtime_predict(path, x)` runs a file in its runtime – ai-edge-litert's
interpreter or onnxruntime – quantizing the inputs and dequantizing the
outputs of an int8 file, so its outputs compare with the Keras model's.

Both need the TensorFlow backend for LiteRT (the TFLite converter) and the
optional dependencies ``pip install "dct_keras[deploy]"`` (ai-edge-litert,
onnxruntime, tf2onnx, onnx); a missing one raises `MissingDependencyError`
naming it.
"""

import gzip
import importlib
import os
import re
import tempfile

import keras
import numpy as np

from dct_keras.surgery import fold, spectral_layers

RUNTIME_FORMATS = ("litert", "onnx")
SUFFIXES = {"litert": ".tflite", "onnx": ".onnx"}
REPRESENTATIVE_EXAMPLES = 200  # calibration inputs of a full-integer file (one at a time)


class RuntimeExportError(ValueError):
    """The model cannot become a file of the format (e.g. it needs ops the runtime lacks)."""


class MissingDependencyError(ImportError):
    """An optional dependency of the deploy extra is not installed."""


def require(module, purpose):
    """Imports ``module`` or raises `MissingDependencyError` saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{purpose} needs the Python package {module.split('.')[0]!r}, which is not installed: "
            'pip install "dct_keras[deploy]" (or the pinned versions of requirements.txt).') from None


def export_runtime(model, path, format="litert", int8=False, representative=None):
    """Writes ``model`` as a runtime file; returns its sizes.

    Args:
        model: a Keras model, spectral (folded first) or plain.
        path: the file to write (``.tflite`` for LiteRT, ``.onnx`` for ONNX).
        format: "litert" or "onnx".
        int8: full-integer LiteRT (int8 weights, activations, input, output).
        representative: an array of model inputs (preprocessed as the model
            expects them) calibrating the int8 activation ranges; its first
            `REPRESENTATIVE_EXAMPLES` are used. Required with ``int8``.

    Returns:
        ``{"bytes": file size, "gzip_bytes": its size gzipped (level 9, the
        usual over-the-air measure)}``.
    """
    if format not in RUNTIME_FORMATS:
        raise ValueError(f"Invalid value for argument `format`: expected one of {RUNTIME_FORMATS}, received {format!r}.")
    if not str(path).endswith(SUFFIXES[format]):
        raise ValueError(f"Invalid value for argument `path`: a {format} file ends with {SUFFIXES[format]}, received {path!r}.")
    if int8 and format != "litert":
        raise ValueError("Invalid value for argument `int8`: full-integer files are LiteRT's (format='litert').")
    if int8 and (representative is None or len(representative) == 0):
        raise ValueError("Invalid value for argument `representative`: a full-integer file needs inputs to calibrate "
                         "its activation ranges.")
    if keras.backend.backend() != "tensorflow" and format == "litert":
        raise RuntimeExportError("LiteRT files are made by the TFLite converter: run with KERAS_BACKEND=tensorflow "
                                 f"(this process runs {keras.backend.backend()!r}); the model files are backend-neutral.")
    plain = fold(model) if spectral_layers(model) else model
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(path))) as folder:
        temporary = os.path.join(folder, "model" + SUFFIXES[format])
        if format == "litert":
            _export_litert(plain, temporary, int8, representative)
        else:
            require("tf2onnx", "ONNX export")
            require("onnx", "ONNX export")
            plain(np.zeros((1, *plain.input_shape[1:]), "float32"))  # Keras's ONNX export traces a model called once
            plain.export(temporary, format="onnx", verbose=False)
        with open(temporary, "rb") as f:
            data = f.read()
        os.replace(temporary, path)
    return {"bytes": len(data), "gzip_bytes": len(gzip.compress(data, 9, mtime=0))}


def _export_litert(model, path, int8, representative):
    import tensorflow as tf

    options = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if int8 else tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if int8:
        examples = np.asarray(representative[:REPRESENTATIVE_EXAMPLES], dtype="float32")
        options.update(optimizations=[tf.lite.Optimize.DEFAULT], inference_input_type=tf.int8, inference_output_type=tf.int8,
                       representative_dataset=lambda: ([example[None]] for example in examples))
    try:
        model.export(path, format="litert", verbose=False, **options)
    except Exception as error:  # the converter's ConverterError carries the ops it could not map
        if type(error).__name__ != "ConverterError":
            raise
        ops = sorted({op for op in re.findall(r"\btf\.(\w+)", str(error)) if op[0].isupper()})  # op names, not scopes
        raise RuntimeExportError(
            "the model needs TensorFlow ops that LiteRT has no builtin kernel for"
            + (f" ({', '.join(ops)})" if ops else "") + "; a file with them would need the Flex delegate (select "
            "TensorFlow ops), which most runtimes (microcontrollers, phones without it) lack, so none was written. "
            "Replace the layers that use them, or run the model through ONNX.") from None


def runtime_predict(path, x, batch_size=256):
    """The outputs of the runtime file ``path`` on inputs ``x`` (float32), in
    its runtime: ai-edge-litert's interpreter for ``.tflite`` (int8 inputs
    quantized and outputs dequantized with the file's own scales) or
    onnxruntime's CPU provider for ``.onnx``."""
    x = np.asarray(x, dtype="float32")
    if str(path).endswith(SUFFIXES["onnx"]):
        session = require("onnxruntime", "Running ONNX files").InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return np.concatenate([session.run(None, {name: x[i:i + batch_size]})[0] for i in range(0, len(x), batch_size)])
    interpreter = require("ai_edge_litert.interpreter", "Running LiteRT files").Interpreter(model_path=str(path))
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs, allocated = [], None
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size]
        if batch.shape != allocated:
            interpreter.resize_tensor_input(source["index"], batch.shape)
            interpreter.allocate_tensors()
            allocated = batch.shape
        interpreter.set_tensor(source["index"], _quantize(batch, source))
        interpreter.invoke()
        outputs.append(_dequantize(interpreter.get_tensor(target["index"]), target))
    return np.concatenate(outputs)


def _quantize(x, details):
    scale, zero_point = details["quantization"]
    if not np.issubdtype(details["dtype"], np.integer):
        return x.astype(details["dtype"])
    info = np.iinfo(details["dtype"])
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(details["dtype"])


def _dequantize(y, details):
    scale, zero_point = details["quantization"]
    if not np.issubdtype(details["dtype"], np.integer):
        return y.astype("float32")
    return ((y.astype("float32") - zero_point) * scale).astype("float32")
