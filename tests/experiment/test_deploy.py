"""`dct-keras deploy`'s measurements: the Pareto points' runtime files,
measured once (a rerun resumes), rendered under the frontier's table."""

import json
import os
import types

import keras
import numpy as np
import pytest

from dct_keras.experiment.deploy import RUNTIMES_FILE, deploy_front, runtime_table
from dct_keras.export.ship import save_shipped

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="LiteRT files are made by the TFLite converter (TensorFlow backend)")


def _point(file, size, accuracy, pareto=True):
    return {"technique": "pruning", "budget": 0.9, "bits": "8", "bytes": size, "accuracy": accuracy, "pareto": pareto,
            "file": file}


def test_pareto_points_are_measured_in_their_runtimes_once(tmp_path):
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    os.makedirs(tmp_path / "shipped")
    save_shipped(model, tmp_path / "shipped" / "a.dctk", bits=8)
    rng = np.random.default_rng(0)
    x_test = rng.standard_normal((50, 6, 6, 1)).astype("float32")
    y_test = np.argmax(model.predict(x_test, verbose=0), -1)  # the float model is right on every image
    data = types.SimpleNamespace(x_train=rng.standard_normal((30, 6, 6, 1)).astype("float32"), x_test=x_test, y_test=y_test)
    size = os.path.getsize(tmp_path / "shipped" / "a.dctk")
    points = [_point("shipped/a.dctk", size, 1.0), _point("shipped/gone.dctk", 10, 0.9),
              _point("shipped/a.dctk", size, 0.5, pareto=False)]
    said = []
    measured = deploy_front(points, data, str(tmp_path), log=said.append)
    entry = measured["shipped/a.dctk"]
    assert entry["onnx"]["accuracy"] == 1.0 and entry["litert_int8"]["accuracy"] >= 0.8
    assert entry["litert_int8"]["bytes"] == os.path.getsize(tmp_path / "runtimes" / "a-int8.tflite")
    assert any("gone.dctk: not on disk" in line for line in said)
    with open(tmp_path / RUNTIMES_FILE, encoding="utf-8") as f:
        assert json.load(f) == measured
    said.clear()
    os.remove(tmp_path / "runtimes" / "a-int8.tflite")
    deploy_front(points, data, str(tmp_path), log=said.append)  # resumes: nothing measured twice
    assert any("measured earlier" in line for line in said) and not (tmp_path / "runtimes" / "a-int8.tflite").exists()

    table = runtime_table(points, str(tmp_path))
    assert table.count("| pruning |") == 1 and f"| {size:,} |" in table and "| 1.0000 |" in table
    # a point whose file changed since it was measured is not shown with the old measurement
    assert runtime_table([_point("shipped/a.dctk", size + 1, 1.0)], str(tmp_path)) == ""
