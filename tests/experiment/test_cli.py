"""The command lines: argument checks before TensorFlow loads, one-paragraph
errors with exit codes 2 (usage) / 1 (data), Ctrl-C -> 130."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "reproductions")


def _run(script, *args, timeout=300):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, script), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout)


def _assert_paragraph(result, code, *fragments):
    assert result.returncode == code, (result.returncode, result.stderr[-3000:])
    assert result.stderr.startswith("error: "), result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr.replace("\n", " "), result.stderr


@pytest.mark.parametrize("args,fragments", [
    (["--switch-off", "1.5"], ["--switch-off 1.5", "[0, 1]"]),
    (["--switch-off", "-0.1"], ["--switch-off -0.1", "[0, 1]"]),
    (["--p", "abc"], ["--switch-off abc", "plain"]),
    (["--switch-off", "0.2"], ["--switch-off 0.2", "not in this config's grid [0, 0.3, 0.5, 0.7, 0.9]"]),
    (["--runs", "0"], ["--runs", ">= 1"]),
    (["--runs", "-1"], ["--runs", ">= 1"]),
    (["--epochs", "0"], ["--epochs", ">= 1"]),
    (["--epochs", "-1"], ["--epochs", ">= 1"]),
    (["--config", "x.json"], ["unrecognized arguments: --config"]),
    (["--data", "/nonexistent.npz"], ["--data", "does not exist"]),
    (["--quick", "--budget"], ["not allowed with"]),
])
def test_bad_arguments_exit_2_before_tensorflow_loads(args, fragments):
    result = subprocess.run([sys.executable, "-X", "importtime", os.path.join(SCRIPTS, "problem3_autoencoder1.py"), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    message = "\n".join(line for line in result.stderr.splitlines() if not line.startswith("import time:"))
    assert message.startswith("error: ") and "Traceback" not in message
    for fragment in fragments:
        assert fragment in message.replace("\n", " "), message
    assert " tensorflow" not in result.stderr and " keras" not in result.stderr  # rejected before any heavy import


def test_grid_values_are_compared_as_numbers():
    from dct_keras.experiment import cli
    from dct_keras.experiment.protocol import select_numbers

    assert select_numbers(["0.50", "plain"], [0, 0.3, 0.5], "--switch-off") == [0.5, "plain"]
    with pytest.raises(cli.UsageError, match="--switch-off 0.2"):
        select_numbers(["0.2"], [0, 0.3, 0.5], "--switch-off")


@pytest.mark.parametrize("script", sorted(name for name in os.listdir(SCRIPTS) if name[0].isalpha()))
def test_every_script_is_a_shim_whose_help_loads_no_framework(script):
    with open(os.path.join(SCRIPTS, script)) as f:
        assert len([line for line in f if line.strip()]) <= 6  # a docstring, an import, the call
    result = subprocess.run([sys.executable, "-X", "importtime", os.path.join(SCRIPTS, script), "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage:" in result.stdout, result.stderr[-2000:]
    assert " tensorflow" not in result.stderr and " keras" not in result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["report", "--help"], ["sweep", "--help"],
                                  ["compress", "--help"], ["export", "--help"], ["deploy", "--help"], ["load-check", "--help"], ["configs"]]
                         + [["run", name, "--help"] for name in ("problem1_resnet50", "freqreg_cifar10", "harmonic_wrn_cifar",
                                                                 "reorder_resnet18_cifar", "ctnet_imagenette")])
def test_the_command_line_answers_without_loading_the_framework(argv):
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "dct_keras", *argv], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert " tensorflow" not in result.stderr and " keras" not in result.stderr
    if argv[:1] == ["run"] and len(argv) == 3:
        assert f"options of the {_method(argv[1])} method" in result.stdout


def _method(name):
    from dct_keras.experiment.config import load_config, resolve_config

    return load_config(resolve_config(name))["method"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_main_job_quick_tier_runs_on_the_other_backends(backend, tmp_path):
    # The GPU machines run JAX and PyTorch: `python reproductions/problem1_resnet50.py --quick` end to end
    # there (training, row, learning check, report), on the packaged CIFAR-100 sample.
    pytest.importorskip(backend)
    environment = {**os.environ, "KERAS_BACKEND": backend, "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, os.path.join(SCRIPTS, "problem1_resnet50.py"), "--quick", "--variant", "all",
                             "--switch-off", "0.5", "--data", "sample", "--out", str(tmp_path)],
                            capture_output=True, text=True, env=environment, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "results.jsonl") as f:
        rows = [json.loads(line) for line in f]
    assert [(row["backend"], row["setting"], row["epochs_done"]) for row in rows] == [(backend, "dct-p0.5", 1)]
    with open(tmp_path / "learning_check.json") as f:
        check = json.load(f)
    assert check["loss_last"] < 0.5 * check["loss_first"]  # it learns on this backend
    assert "Table V" in (tmp_path / "table.md").read_text()


@pytest.mark.slow
def test_importing_the_library_prints_no_framework_log_lines():
    environment = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "DCT_KERAS_DEFER_IMPORTS")}
    result = subprocess.run([sys.executable, "-c", "import dct_keras; dct_keras.DCTConv2D(2, 3)"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env=environment)
    assert result.returncode == 0 and result.stderr == "" and result.stdout == ""


def test_unknown_commands_and_configs_are_one_paragraph(tmp_path):
    for argv, fragments in ((["frobnicate"], ["unknown command 'frobnicate'", "run, report"]),
                            (["run", "problem9"], ["CONFIG problem9", "does not exist", "problem1_resnet50"]),
                            (["run", str(tmp_path)], ["is a folder"]),
                            (["run", "freqreg_cifar10", "--budget"], ["--budget", "defines no 'budget'"])):
        result = subprocess.run([sys.executable, "-m", "dct_keras", *argv], cwd=ROOT, capture_output=True, text=True, timeout=60)
        _assert_paragraph(result, 2, *fragments)
    binary = tmp_path / "config.json"
    binary.write_bytes(bytes(range(256)))
    result = subprocess.run([sys.executable, "-m", "dct_keras", "run", str(binary)], cwd=ROOT, capture_output=True, text=True)
    _assert_paragraph(result, 2, "not a text file")


def test_selections_that_leave_nothing_or_name_unknown_items_exit_2():
    _assert_paragraph(_run("problem1_resnet50.py", "--variant", "spatial", "--p", "0.3"), 2, "--switch-off 0.3")
    _assert_paragraph(_run("freqreg_lenet_mnist.py", "--models", "lenet7"), 2, "--models lenet7", "lenet300")
    _assert_paragraph(_run("harmonic_wrn_cifar.py", "--variants", "Nope"), 2, "--settings Nope")
    _assert_paragraph(_run("ctnet_imagenette.py", "--settings", "Nope"), 2, "--settings Nope", "CTNet-18")
    _assert_paragraph(_run("ctnet_imagenette.py", "--recipe", "run2"), 2, "--recipe run2", "'run1', 'run3'")
    _assert_paragraph(_run("sweep_p.py", "problem3_autoencoder1", "--block", "spatial"), 2, "--block spatial")
    _assert_paragraph(_run("reorder_resnet18_cifar.py", "--rates", "0.5"), 2, "compression_rates", ">= 1")


@pytest.mark.slow
def test_data_errors_exit_1_with_one_paragraph(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    _assert_paragraph(_run("problem3_autoencoder1.py", "--quick", "--data", empty, "--out", tmp_path / "o"), 1,
                      "empty.npz", "the file is empty")
    first = tmp_path / "channels_first.npz"
    images = np.zeros((4, 3, 32, 32), np.uint8)
    np.savez(first, x_train=images, y_train=np.arange(4), x_test=images, y_test=np.arange(4))
    _assert_paragraph(_run("problem3_autoencoder1.py", "--quick", "--data", first, "--out", tmp_path / "o"), 1,
                      "channels-first", "np.transpose")


@pytest.mark.slow
def test_ctrl_c_prints_how_to_resume_and_exits_130(tmp_path):
    data = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (256, 32, 32, 3), dtype=np.uint8)
    np.savez(data, x_train=images, y_train=np.arange(256) % 10, x_test=images[:64], y_test=np.arange(64) % 10)
    process = subprocess.Popen([sys.executable, os.path.join(SCRIPTS, "problem4_autoencoder2.py"), "--data", data,
                                "--epochs", "50", "--runs", "1", "--p", "plain", "--out", tmp_path / "o"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:  # the first epoch's line: the run is inside its second epoch
        if line.startswith("Epoch 1/"):
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    assert "interrupted; rerun the same command to resume" in stderr and "Traceback" not in stderr


@pytest.mark.slow
def test_ctrl_c_swallowed_by_a_callback_still_stops_the_run():
    # A Ctrl-C that lands in code whose exceptions Python ignores (here a
    # __del__, in CI a garbage-collection callback) must still stop the run.
    code = (
        "import signal, sys, time\n"
        "from dct_keras.experiment.cli import run_main\n"
        "class Finalized:\n"
        "    def __del__(self):\n"
        "        signal.raise_signal(signal.SIGINT)\n"
        "        for _ in range(10000): pass\n"
        "def main(argv):\n"
        "    Finalized()\n"
        "    for _ in range(100): time.sleep(0.05)\n"
        "    print('finished')\n"
        "run_main(main)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 130 and "finished" not in result.stdout, (result.stdout, result.stderr[-2000:])
    assert "interrupted; rerun the same command to resume" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_tensorboard_event_files_hold_loss_metrics_and_learning_rate(tmp_path):
    data = tmp_path / "data.npz"
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    np.savez(data, x_train=images, y_train=np.arange(16) % 10, x_test=images[:8], y_test=np.arange(8) % 10)
    result = _run("problem3_autoencoder1.py", "--data", data, "--epochs", "1", "--runs", "1", "--p", "plain",
                  "--out", tmp_path / "o", "--tensorboard", tmp_path / "tb")
    assert result.returncode == 0, result.stderr[-3000:]
    events = [p for p in (tmp_path / "tb").rglob("events.out.tfevents.*")]
    assert events, list((tmp_path / "tb").rglob("*"))
    content = b"".join(p.read_bytes() for p in events)
    assert b"learning_rate" in content and b"loss" in content and b"mse" in content


@pytest.mark.slow
def test_reorder_compress_cli_writes_model_and_report(tmp_path):
    import json

    import keras

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))
    model.save(tmp_path / "m.keras")
    images = np.random.default_rng(0).integers(0, 256, (32, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x_train=images, y_train=np.arange(32) % 4, x_test=images[:8], y_test=np.arange(8) % 4)
    result = _run("reorder_compress.py", tmp_path / "m.keras", "--strategy", "progressive-r", "--r0", "0.5",
                  "--finetune-data", tmp_path / "d.npz", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["layers"][-1]["layer"] == "TOTAL" and 0 <= report["accuracy_finetuned"] <= 1
    assert (tmp_path / "out" / "compressed.keras").exists() and "nSSE" in (tmp_path / "out" / "report.md").read_text()
    _assert_paragraph(_run("reorder_compress.py", "--model", tmp_path / "m.keras", "--strategy", "progressive-r"), 2,
                      "--r0")
    # Bad inputs, each one paragraph naming the argument, before any compression.
    (tmp_path / "file.txt").write_text("x")
    _assert_paragraph(_run("reorder_compress.py", "--model", tmp_path / "m.keras", "--out", tmp_path / "file.txt"), 2,
                      "is a file")
    np.savez(tmp_path / "wrong.npz", x_train=images[:, :6, :6], y_train=np.arange(32) % 4, x_test=images[:8, :6, :6],
             y_test=np.arange(8) % 4)
    _assert_paragraph(_run("reorder_compress.py", "--model", tmp_path / "m.keras", "--finetune-data", tmp_path / "wrong.npz",
                           "--out", tmp_path / "out2"), 2, "takes inputs of shape")
    (tmp_path / "corrupt.keras").write_bytes(np.random.default_rng(1).bytes(100))
    _assert_paragraph(_run("reorder_compress.py", "--model", tmp_path / "corrupt.keras", "--out", tmp_path / "out3"), 1,
                      "not a .keras model")


@pytest.mark.slow
def test_a_spectral_run_resumes_through_the_command_line(tmp_path):
    # The checkpoint of a DCT-Conv model loads in a fresh `python -m dct_keras` process.
    data = tmp_path / "data.npz"
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    np.savez(data, x_train=images, y_train=np.arange(16) % 10, x_test=images[:8], y_test=np.arange(8) % 10)
    command = [sys.executable, "-m", "dct_keras", "run", "problem3_autoencoder1", "--data", data, "--epochs", "2",
               "--runs", "1", "--switch-off", "0.5", "--session-epochs", "1", "--out", tmp_path / "o"]
    first = subprocess.run(list(map(str, command)), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0 and "rerun to resume" in first.stdout, first.stderr[-3000:]
    second = subprocess.run(list(map(str, command)), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and "resuming from epoch 1" in second.stdout, second.stderr[-3000:]
    row = json.loads((tmp_path / "o" / "results.jsonl").read_text().splitlines()[0])
    assert row["epochs_done"] == 2 and row["method_fields"]["switch_off"] == 0.5
