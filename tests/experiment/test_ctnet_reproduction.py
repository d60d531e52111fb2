"""CTNet experiment (ctnet_h265.txt): the model, the per-epoch size log, the export row, the table."""

import json
import os

import keras
import numpy as np
import pytest

import dct_keras
from dct_keras.data import ImageDataset
from dct_keras.experiment import apply_overrides, ctnet, load_config
from dct_keras.experiment.runner import Runner, prepare_data
from dct_keras.regularizers import H265RateProxy

pytest.importorskip("av")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "ctnet_imagenette.json")


def test_ctnet_resnet18_is_the_dct_family_in_channel_form_with_the_proxy_only_in_ctnet():
    config = load_config(CONFIG)
    model = ctnet.build_model(config, "CTNet-18", 10, (32, 32, 3), seed=0)
    layers = dct_keras.spectral_layers(model)
    assert len(layers) == 21  # 17 3x3 convolutions, 3 projection shortcuts, the FC
    assert dct_keras.count_params(model).trainable == 11_173_962  # the plain ResNet-18's count
    for layer in layers:
        assert isinstance(layer.kernel_regularizer, H265RateProxy) and layer.training_noise == 0.1
        if all(k == 1 for k in getattr(layer, "kernel_size", (1,))):
            assert layer.pointwise == "channel_block_dct2d" and layer.pointwise_block == 16
    assert isinstance(model.optimizer, keras.optimizers.AdamW) and model.optimizer.weight_decay == 0.01
    reference = ctnet.build_model(config, "DCT-18 without rate proxy", 10, (32, 32, 3), seed=0)
    assert all(layer.kernel_regularizer is None and layer.training_noise == 0 for layer in dct_keras.spectral_layers(reference))
    for a, b in zip(model.weights, reference.weights):  # same initial coefficients in both variants
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def _small_model():
    inputs = keras.Input((8, 8, 3))
    x = dct_keras.DCTConv2D(8, 3, padding="same", kernel_regularizer=H265RateProxy(1e-3))(inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.BatchNormalization()(x))
    model = keras.Model(inputs, dct_keras.DCTDense(3, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_export_size_logger_and_row_export_decode_and_evaluate(rng, tmp_path):
    config = load_config(CONFIG)
    x, y = rng.random((16, 8, 8, 3)).astype("float32"), np.arange(16) % 3
    model = _small_model()
    logger = ctnet.ExportSizeLogger(x, y, ctnet.export_options(config))
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[logger])
    assert len(history.history["h265_bytes"]) == 2 and all(b > 0 for b in history.history["h265_bytes"])
    assert all(0 <= a <= 1 for a in history.history["test_accuracy"])
    data = ImageDataset(rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8), y, rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8),
                        y, "synthetic")
    prepared = prepare_data(config, data, model_name="none")
    spec = ctnet.plan(config)[0]
    row = ctnet.row_fn(config, prepared, str(tmp_path), "abc")(model, spec)
    assert row["export_dir"] == f"export/{spec.key}-abc" and (tmp_path / row["export_dir"] / "manifest.json").exists()
    assert row["h265"]["total"] == sum(row["h265"][k] for k in ("video", "raw", "manifest"))
    expected = model.evaluate(prepared.x_test, prepared.y_test, verbose=0, return_dict=True)["accuracy"]
    assert abs(row["accuracy_decoded"] - expected) <= 2 / 16  # 8-bit coefficients may flip a prediction or two


def test_runner_rows_render_beside_the_paper(rng, tmp_path):
    config = apply_overrides(load_config(CONFIG), quick=True)
    config["batch_size"] = 8
    dataset = ImageDataset(rng.integers(0, 256, (8, 8, 8, 3), dtype=np.uint8), np.arange(8) % 3,
                           rng.integers(0, 256, (8, 8, 8, 3), dtype=np.uint8), np.arange(8) % 3, "synthetic")
    data = prepare_data(config, dataset, model_name="none")
    runner = Runner(config, data, tmp_path, verbose=0, log=lambda *_: None, model_fn=lambda c, s, d: _small_model(),
                    callbacks_fn=ctnet.callbacks_fn(config, data))
    runner.row_fn = ctnet.row_fn(config, data, str(tmp_path), runner.hash)
    runner.run_all(ctnet.plan(config, ["DCT-18 without rate proxy"]))
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and "h265_bytes" in rows[0]["history"][0] and "accuracy_decoded" in rows[0]
    table = ctnet.render_table(config, tmp_path, 256, {runner.hash})
    assert "DCT-18 without rate proxy (seed 0)" in table and "paper: Run 3" in table and "21.7x" in table and "⚠" in table
    ctnet.render_plot(rows, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 0
