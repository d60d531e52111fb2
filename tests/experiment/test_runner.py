import json
import os

import keras
import numpy as np
import pytest
from keras import ops

from dct_keras.experiment import apply_overrides, load_config
from dct_keras.experiment.config import resolve_config
from dct_keras.experiment.data import ImageDataset, prepare_data
from dct_keras.experiment.dct_conv import DCTConv, run_spec
from dct_keras.experiment.runner import Runner

PROBLEMS = ["problem1_resnet50", "problem2_vgg16", "problem3_autoencoder1", "problem4_autoencoder2"]


def _config(name, **overrides):
    config = apply_overrides(load_config(resolve_config(name)), **overrides)
    config["batch_size"] = 4
    return config


def _runner(config, data, out, method=None, **kwargs):
    kwargs.setdefault("verbose", 0)
    kwargs.setdefault("log", lambda *_: None)
    return Runner(method or DCTConv(config), data, out, **kwargs)


class _TinyAutoencoder(DCTConv):
    """DCT-Conv's protocol with a small dense model (fast I/O tests)."""

    def build(self, spec, data):
        keras.utils.set_random_seed(spec.seed)
        model = keras.Sequential([keras.Input(data.x_train.shape[1:]), keras.layers.Flatten(),
                                  keras.layers.Dense(3, kernel_initializer="orthogonal"),
                                  keras.layers.Dense(int(np.prod(data.x_train.shape[1:]))),
                                  keras.layers.Reshape(data.x_train.shape[1:])])
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mse"])
        return model


PLAIN = run_spec("plain", None, 0)


def _tiny_dataset(rng, n_train=8, n_test=4, classes=5):
    return ImageDataset(
        rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8), np.arange(n_train) % classes,
        rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8), np.arange(n_test) % classes, "synthetic",
    )


class _Args:
    def __init__(self, block=None, switch_off=None):
        self.block, self.switch_off = block, switch_off


def test_plan_follows_the_protocol_order():
    config = _config("problem1_resnet50", runs=2)
    plan = DCTConv(config).plan(_Args("both"))
    keys = [spec.key for spec in plan]
    assert keys[:2] == ["plain-seed0", "plain-seed1"]
    assert keys[2:6] == ["dct-p0-seed0", "dct-p0-seed1", "dct_spatial-p0-seed0", "dct_spatial-p0-seed1"]
    assert keys[6] == "dct-p0.3-seed0" and keys[-1] == "dct_spatial-p1-seed1"
    assert len(plan) == 2 * (1 + 6 + 5)
    only = DCTConv(config).plan(_Args("spatial", ["0.999"]))
    assert [s.key for s in only] == ["dct_spatial-p0.999-seed0", "dct_spatial-p0.999-seed1"]
    assert only[0].options == {"block": "spatial", "variant": "dct_spatial", "switch_off": 0.999, "switch_off_policy": "random"}


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in ("problem1_resnet50", "problem2_vgg16")
                                  else name for name in PROBLEMS])
def test_one_training_step_per_problem(name, rng, tmp_path):
    config = _config(name, epochs=1, runs=1)
    data = prepare_data(config, _tiny_dataset(rng, n_train=4, n_test=4))
    variant = config["blocks"]["all"]["variant"]
    row = _runner(config, data, tmp_path).run(run_spec(variant, 0.5, 0, "all"))
    assert row["epochs_done"] == 1 and np.isfinite(row["metric"])
    assert row["params"]["active"] < row["params"]["trainable"]
    assert (row["method"], row["experiment"], row["setting"]) == ("dct_conv", name, "dct-p0.5")
    assert row["method_fields"]["switch_off"] == 0.5 and row["bytes"] is None
    assert row["metric_name"] == ("accuracy" if config["task"] == "classification" else "mse")
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["run"] == "dct-p0.5-seed0"


def _weights(model):
    return [ops.convert_to_numpy(w) for w in model.weights]


@pytest.mark.slow
def test_interrupt_and_resume_equals_uninterrupted(rng, tmp_path):
    config = _config("problem4_autoencoder2", epochs=3, runs=1)
    data = prepare_data(config, _tiny_dataset(rng))
    spec = run_spec("dct", 0.3, 0, "all")

    straight = _runner(config, data, tmp_path / "a")
    straight.run(spec)

    assert _runner(config, data, tmp_path / "b", session_epochs=1).run(spec) is None
    state = json.loads(next((tmp_path / "b" / "checkpoints").iterdir()).joinpath("state.json").read_text())
    assert state["epochs_done"] == 1
    keras.backend.clear_session()
    resumed = _runner(config, data, tmp_path / "b", session_epochs=1)
    assert resumed.run(spec) is None  # epoch 2 of 3
    resumed = _runner(config, data, tmp_path / "b")
    row = resumed.run(spec)
    assert row["epochs_done"] == 3
    from dct_keras import recipes  # the resumed model keeps the recipe a shipped file names

    assert recipes.recipe_of(resumed.final_model) == recipes.recipe_of(straight.final_model) is not None
    for a, b in zip(_weights(straight.final_model), _weights(resumed.final_model)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not (tmp_path / "b" / "checkpoints").exists() or not any((tmp_path / "b" / "checkpoints").iterdir())


def test_finished_runs_are_skipped(rng, tmp_path):
    config = _config("problem3_autoencoder1", epochs=1, runs=1)
    data = prepare_data(config, _tiny_dataset(rng, n_train=4))
    logs = []
    plan = [PLAIN]
    _runner(config, data, tmp_path, log=logs.append).run_all(plan)
    _runner(config, data, tmp_path, log=logs.append).run_all(plan)
    assert any("skipped" in line for line in logs)
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 1
    changed = dict(config, epochs=2)  # another config: not skipped
    assert set(_runner(changed, data, tmp_path).finished_rows()) == set()


def test_training_under_mirrored_strategy(rng, tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.distribute needs the TensorFlow backend")
    import tensorflow as tf

    config = _config("problem3_autoencoder1", epochs=1, runs=1)
    data = prepare_data(config, _tiny_dataset(rng, n_train=4))
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    row = _runner(config, data, tmp_path, strategy=strategy).run(run_spec("dct", 0.5, 0, "all"))
    assert row["epochs_done"] == 1 and np.isfinite(row["metric"])


def test_other_data_or_budget_never_reuses_rows(rng, tmp_path):
    config = _config("problem3_autoencoder1", epochs=1, runs=1)
    data = prepare_data(config, _tiny_dataset(rng, n_train=4))
    _runner(config, data, tmp_path).run_all([PLAIN])
    assert set(_runner(config, data, tmp_path).finished_rows()) == {"plain-seed0"}
    other = prepare_data(config, _tiny_dataset(np.random.default_rng(7), n_train=4))
    assert set(_runner(config, other, tmp_path).finished_rows()) == set()  # same shapes, other pixels
    assert set(_runner(dict(config, epochs=2), data, tmp_path).finished_rows()) == set()
    assert set(_runner(dict(config, runs=5), data, tmp_path).finished_rows()) == {"plain-seed0"}  # runs: not per-row


class _Crash(BaseException):
    """Stands for the process being killed at an I/O step."""


def _run_with_crash(config, data, out, plan, crash_at, monkeypatch):
    """Runs the plan, raising `_Crash` at the ``crash_at``-th I/O step (None:
    never); returns the number of steps seen."""
    import shutil

    from dct_keras.experiment import results as results_module

    seen = [0]
    real = {"replace": os.replace, "fsync": os.fsync, "remove": os.remove, "rmtree": shutil.rmtree,
            "partial": lambda path, row: None}

    def step(name):
        def wrapped(*args, **kwargs):
            seen[0] += 1
            if seen[0] == crash_at:
                if name == "replace" and str(args[1]).endswith("results.jsonl"):
                    with open(args[1], "a") as f:  # killed mid-write by a non-atomic writer: half a row
                        f.write('{"run": "plain-seed1", "metr')
                raise _Crash(name)
            return real[name](*args, **kwargs)
        return wrapped

    with monkeypatch.context() as patch:
        for name in ("replace", "fsync", "remove"):
            patch.setattr(os, name, step(name))
        patch.setattr(shutil, "rmtree", step("rmtree"))
        try:
            _runner(config, data, out, _TinyAutoencoder(config)).run_all(plan)
        except _Crash:
            pass
    assert results_module.os is os
    return seen[0]


@pytest.mark.slow
def test_killed_at_any_io_step_resumes_to_the_uninterrupted_results(rng, tmp_path, monkeypatch):
    import warnings

    config = _config("problem3_autoencoder1", epochs=2, runs=2)
    data = prepare_data(config, _tiny_dataset(rng, n_train=8, n_test=4))
    plan = [run_spec("plain", None, 0), run_spec("plain", None, 1)]
    steps = _run_with_crash(config, data, tmp_path / "clean", plan, None, monkeypatch)
    clean = {r["run"]: r["metric"] for r in map(json.loads, (tmp_path / "clean" / "results.jsonl").read_text().splitlines())}
    assert steps >= 20
    for crash_at in range(1, steps + 1):
        out = tmp_path / f"crash{crash_at}"
        _run_with_crash(config, data, out, plan, crash_at, monkeypatch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _runner(config, data, out, _TinyAutoencoder(config)).run_all(plan)
        lines = [line for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
        rows = [json.loads(line) for line in lines]  # every line complete
        assert sorted(r["run"] for r in rows) == sorted(clean), crash_at
        for row in rows:
            np.testing.assert_allclose(row["metric"], clean[row["run"]], rtol=1e-5, err_msg=f"crash at step {crash_at}")


def test_a_truncated_line_is_skipped_with_a_warning_and_recomputed(rng, tmp_path):
    config = _config("problem3_autoencoder1", epochs=1, runs=1)
    data = prepare_data(config, _tiny_dataset(rng, n_train=4))
    plan = [PLAIN]
    _runner(config, data, tmp_path, _TinyAutoencoder(config)).run_all(plan)
    path = tmp_path / "results.jsonl"
    path.write_text(path.read_text()[:40])
    with pytest.warns(UserWarning, match=r"results.jsonl, line 1: not a complete JSON row"):
        _runner(config, data, tmp_path, _TinyAutoencoder(config)).run_all(plan)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["run"] for r in rows] == ["plain-seed0"]


def test_logs_that_are_not_a_terminal_get_one_plain_line_per_epoch(rng, tmp_path):
    config = _config("problem3_autoencoder1", epochs=3, runs=1)
    data = prepare_data(config, _tiny_dataset(rng))
    lines = []
    _runner(config, data, tmp_path, _TinyAutoencoder(config), verbose=2, log=lines.append).run(PLAIN)
    epochs = [line for line in lines if line.startswith("Epoch ")]
    assert [line.split(" - ")[0] for line in epochs] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    for line in epochs:
        assert "loss: " in line and "val_loss: " in line and "\x1b" not in line and len(line) < 200


def test_learning_check_measures_the_loss_falling_and_the_table_says_so(rng, tmp_path):
    from dct_keras.experiment.report import render_folder
    from dct_keras.experiment.results import LEARNING_CHECK_FILE
    from dct_keras.experiment.runner import learning_check

    config = _config("problem3_autoencoder1", epochs=1, runs=1)
    data = prepare_data(config, _tiny_dataset(rng))
    method = _TinyAutoencoder(config)
    _runner(config, data, tmp_path, method).run(PLAIN)
    check = learning_check(method, PLAIN, data, examples=8, steps=60)
    assert check["examples"] == 8 and check["steps"] == 60
    model = method.build(PLAIN, data)  # the same fresh start: its loss on those images is the first step's
    model.compile(loss=config["loss"])  # the method's metrics dropped, as in the check
    np.testing.assert_allclose(check["loss_first"], model.evaluate(data.x_train[:8], data.y_train[:8], verbose=0,
                                                                   return_dict=True)["loss"], rtol=1e-4)
    assert check["loss_last"] < 0.5 * check["loss_first"] and check == learning_check(method, PLAIN, data, 8, 60)
    # Binary cross-entropy on pixels has a floor: the targets' entropy (NumPy), which the check records.
    y = data.y_train[:8].astype("float64")
    entropy = -np.mean(y * np.log(np.clip(y, 1e-7, 1)) + (1 - y) * np.log(np.clip(1 - y, 1e-7, 1)))
    assert check["loss_floor"] == pytest.approx(entropy, rel=1e-3) and check["loss_floor"] > 0
    with open(tmp_path / LEARNING_CHECK_FILE, "w") as f:
        json.dump(check, f)
    markdown, _ = render_folder(str(tmp_path), config=config)
    assert "Learning check:" in markdown and "it learns" in markdown
    with open(tmp_path / LEARNING_CHECK_FILE, "w") as f:
        json.dump({**check, "loss_last": check["loss_first"]}, f)
    assert "does not learn" in render_folder(str(tmp_path), config=config)[0]


def test_the_learning_check_judges_against_the_floor_and_catches_a_network_that_cannot_learn(rng):
    from dct_keras.experiment.results import learns
    from dct_keras.experiment.runner import learning_check

    # Problem 3's binary cross-entropy as measured on natural images: near its floor, not halved, yet learning.
    assert learns({"loss_first": 0.7132, "loss_last": 0.5923, "loss_floor": 0.57})
    assert not learns({"loss_first": 0.7132, "loss_last": 0.70, "loss_floor": 0.57})
    config = _config("problem3_autoencoder1", epochs=1, runs=1)
    data = prepare_data(config, _tiny_dataset(rng))

    class Frozen(_TinyAutoencoder):
        def build(self, spec, data):
            model = super().build(spec, data)
            model.trainable = False  # nothing can change: the loss stays where it starts
            return model

    check = learning_check(Frozen(config), PLAIN, data, examples=8, steps=10)
    assert check["loss_last"] == pytest.approx(check["loss_first"]) and not learns(check)
