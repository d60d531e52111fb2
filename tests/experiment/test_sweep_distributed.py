"""keras-tuner's chief / worker mode with the sweep script: one chief and two
workers on 127.0.0.1 share a small grid."""

import glob
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # three processes, keras-tuner's gRPC oracle

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
P_VALUES = ["0.3", "0.6", "0.9"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tiny_npz(path):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8), y_train=np.arange(16) % 4,
             x_test=rng.integers(0, 256, (8, 8, 8, 3), dtype=np.uint8), y_test=np.arange(8) % 4)


def test_chief_and_two_workers_complete_every_trial_exactly_once(tmp_path):
    data = tmp_path / "tiny.npz"
    _tiny_npz(data)
    out = tmp_path / "sweep"
    command = [sys.executable, os.path.join(ROOT, "reproductions", "sweep_p.py"), "problem3_autoencoder1", "--data", str(data),
               "--epochs", "1", "--runs", "1", "--switch-off", *P_VALUES, "--policy", "random", "--out", str(out)]
    port = str(_free_port())
    processes = {}
    try:
        for tuner_id in ("chief", "tuner0", "tuner1"):
            env = {**os.environ, "KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": "127.0.0.1",
                   "KERASTUNER_ORACLE_PORT": port, "TF_CPP_MIN_LOG_LEVEL": "3"}
            log = open(tmp_path / f"{tuner_id}.log", "w")
            processes[tuner_id] = (subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log)
        deadline = time.monotonic() + 420
        for process, _ in processes.values():  # wait for each to exit (no polling)
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                break
        logs = {name: (tmp_path / f"{name}.log").read_text() for name in processes}
        codes = {name: p.poll() for name, (p, _) in processes.items()}
        assert codes == {"chief": 0, "tuner0": 0, "tuner1": 0}, logs
    finally:
        for process, log in processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()
            log.close()
    assert all(p.poll() is not None for p, _ in processes.values())

    trials = [json.load(open(path)) for path in glob.glob(str(out / "tuner" / "trial_*" / "trial.json"))]
    assert len(trials) == len(P_VALUES)
    assert sorted(f"{t['hyperparameters']['values']['p']:g}" for t in trials) == P_VALUES
    assert all(t["status"] == "COMPLETED" for t in trials)
    with open(out / "results.jsonl") as f:
        rows = [json.loads(line) for line in f]
    assert sorted(f"{row['method_fields']['switch_off']:g}" for row in rows) == P_VALUES  # each trial trained exactly once
    # The chief only hands out trials and prints the summary; the workers train.
    assert "| trial | p |" in logs["chief"] and ": training" not in logs["chief"]
    for p in P_VALUES:
        assert sum(logs[worker].count(f"dct-p{p}-seed0: training") for worker in ("tuner0", "tuner1")) == 1
