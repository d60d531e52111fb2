import json
import os

import numpy as np

from dct_keras.data import ImageDataset
from dct_keras.experiment import apply_overrides, load_config
from dct_keras.experiment.runner import Runner, prepare_data

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dct_keras.experiment import harmonic as harmonic_wrn_cifar  # noqa: E402


def test_quick_budget_runs_every_variant_and_renders(rng, tmp_path):
    config = apply_overrides(load_config(os.path.join(ROOT, "configs", "harmonic_wrn_cifar.json")), quick=True)
    assert (config["depth"], config["width"], config["epochs"]) == (10, 1, 1)
    config["batch_size"] = 8
    dataset = ImageDataset(rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), np.arange(8) % 10,
                           rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), np.arange(8) % 10, "synthetic")
    data = prepare_data(config, dataset)
    plan = harmonic_wrn_cifar.plan(config)
    assert [s.block for s in plan] == list(config["variants"])
    Runner(config, data, tmp_path, verbose=0, log=lambda *_: None, model_fn=harmonic_wrn_cifar.model_fn).run_all(plan)
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    params = {r["block"]: r["params_trainable"] for r in rows}
    assert params["Harm-WRN lambda=2"] < params["Harm-WRN lambda=3"] < params["Harm-WRN"]
    table = harmonic_wrn_cifar.render_table(config, tmp_path, 200, 10)
    assert "| Harm-WRN progressive |" in table and "3.93" in table and "⚠" in table
    with open(harmonic_wrn_cifar.render_plot(config, tmp_path), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
