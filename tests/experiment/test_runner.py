import json
import os

import keras
import numpy as np
import pytest
from keras import ops

from dct_keras.data import ImageDataset
from dct_keras.experiment import apply_overrides, load_config
from dct_keras.experiment.runner import Runner, RunSpec, plan_runs, prepare_data

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBLEMS = ["problem1_resnet50", "problem2_vgg16", "problem3_autoencoder1", "problem4_autoencoder2"]


def _config(name, **overrides):
    config = apply_overrides(load_config(os.path.join(ROOT, "configs", f"{name}.json")), **overrides)
    config["batch_size"] = 4
    return config


def _tiny_dataset(rng, n_train=8, n_test=4, classes=5):
    return ImageDataset(
        rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8), np.arange(n_train) % classes,
        rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8), np.arange(n_test) % classes, "synthetic",
    )


def test_plan_follows_the_protocol_order():
    config = _config("problem1_resnet50", runs=2)
    plan = plan_runs(config, ["all", "spatial"])
    keys = [spec.key for spec in plan]
    assert keys[:2] == ["cnn-seed0", "cnn-seed1"]
    assert keys[2:6] == ["dct-p0-seed0", "dct-p0-seed1", "dct_spatial-p0-seed0", "dct_spatial-p0-seed1"]
    assert keys[6] == "dct-p0.3-seed0" and keys[-1] == "dct_spatial-p1-seed1"
    assert len(plan) == 2 * (1 + 6 + 5)
    only = plan_runs(config, ["spatial"], p_values=["0.999"])
    assert [s.key for s in only] == ["dct_spatial-p0.999-seed0", "dct_spatial-p0.999-seed1"]


@pytest.mark.parametrize("name", PROBLEMS)
def test_one_training_step_per_problem(name, rng, tmp_path):
    config = _config(name, epochs=1, runs=1)
    data = prepare_data(config, _tiny_dataset(rng, n_train=4, n_test=4))
    variant = config["blocks"]["all"]["variant"]
    row = Runner(config, data, tmp_path, verbose=0, log=lambda *_: None).run(RunSpec(variant, 0.5, 0, "all"))
    assert row["epochs_done"] == 1 and np.isfinite(row["metric"])
    assert row["params_active"] < row["params_trainable"]
    assert row["metric_name"] == ("accuracy" if config["task"] == "classification" else "mse")
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["run"] == "dct-p0.5-seed0"


def _weights(model):
    return [ops.convert_to_numpy(w) for w in model.weights]


def test_interrupt_and_resume_equals_uninterrupted(rng, tmp_path):
    config = _config("problem4_autoencoder2", epochs=3, runs=1)
    data = prepare_data(config, _tiny_dataset(rng))
    spec = RunSpec("dct", 0.3, 0, "all")
    quiet = dict(verbose=0, log=lambda *_: None)

    straight = Runner(config, data, tmp_path / "a", **quiet)
    straight.run(spec)

    assert Runner(config, data, tmp_path / "b", session_epochs=1, **quiet).run(spec) is None
    state = json.loads(next((tmp_path / "b" / "checkpoints").iterdir()).joinpath("state.json").read_text())
    assert state["epochs_done"] == 1
    keras.backend.clear_session()
    resumed = Runner(config, data, tmp_path / "b", session_epochs=1, **quiet)
    assert resumed.run(spec) is None  # epoch 2 of 3
    resumed = Runner(config, data, tmp_path / "b", **quiet)
    row = resumed.run(spec)
    assert row["epochs_done"] == 3
    for a, b in zip(_weights(straight.final_model), _weights(resumed.final_model)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not (tmp_path / "b" / "checkpoints").exists() or not any((tmp_path / "b" / "checkpoints").iterdir())


def test_finished_runs_are_skipped(rng, tmp_path):
    config = _config("problem3_autoencoder1", epochs=1, runs=1)
    data = prepare_data(config, _tiny_dataset(rng, n_train=4))
    logs = []
    plan = [RunSpec("cnn", None, 0)]
    Runner(config, data, tmp_path, verbose=0, log=logs.append).run_all(plan)
    Runner(config, data, tmp_path, verbose=0, log=logs.append).run_all(plan)
    assert any("skipped" in line for line in logs)
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 1
    changed = dict(config, epochs=2)  # another config: not skipped
    assert Runner(changed, data, tmp_path, verbose=0, log=logs.append).finished_keys() == set()


def test_training_under_mirrored_strategy(rng, tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.distribute needs the TensorFlow backend")
    import tensorflow as tf

    config = _config("problem3_autoencoder1", epochs=1, runs=1)
    data = prepare_data(config, _tiny_dataset(rng, n_train=4))
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    runner = Runner(config, data, tmp_path, strategy=strategy, verbose=0, log=lambda *_: None)
    row = runner.run(RunSpec("dct", 0.5, 0, "all"))
    assert row["epochs_done"] == 1 and np.isfinite(row["metric"])
