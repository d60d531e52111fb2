import json
import os

import numpy as np

from dct_keras.data import ImageDataset
from dct_keras.experiment import apply_overrides, load_config
from dct_keras.experiment.runner import Runner, prepare_data

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dct_keras.experiment import freqreg as freqreg_common  # noqa: E402


def test_lenet_freqreg_runs_reach_the_schedule_and_render(rng, tmp_path):
    config = apply_overrides(load_config(os.path.join(ROOT, "configs", "freqreg_lenet_mnist.json")), epochs=3, runs=1)
    config["batch_size"] = 8
    config["tail_dropout"]["gamma"] = 0.9
    dataset = ImageDataset(rng.integers(0, 256, (16, 28, 28), dtype=np.uint8)[..., None], np.arange(16) % 10,
                           rng.integers(0, 256, (8, 28, 28), dtype=np.uint8)[..., None], np.arange(8) % 10, "synthetic")
    data = prepare_data(config, dataset)
    plan = freqreg_common.plan(config, "lenet300")
    assert [s.key for s in plan] == ["plain-seed0", "freqreg-p0.984079-seed0", "freqreg-p0.989421-seed0"]
    runner = Runner(config, data, tmp_path / "lenet300", verbose=0, log=lambda *_: None,
                    model_fn=freqreg_common.model_fn("lenet300"), callbacks_fn=freqreg_common.callbacks_fn(config),
                    row_fn=freqreg_common.row_fn(data, 8))
    runner.run_all(plan)
    rows = [json.loads(line) for line in (tmp_path / "lenet300" / "results.jsonl").read_text().splitlines()]
    assert [r["block"] for r in rows] == ["ref", "v1", "v2"]
    beta = 1.0
    for _ in range(3):
        beta -= 0.9 * (beta - 0.010579)
    assert abs(rows[2]["kept_kernel_parameters"] / rows[2]["kernel_parameters"] - beta) < 1e-3
    assert 0 <= rows[2]["accuracy_float16"] <= 1 and rows[2]["export_bytes_float16"] > 0
    table = freqreg_common.render_table(config, tmp_path, ["lenet300"], full_epochs=1000)
    assert "| lenet300 | v2 |" in table and "0.9569" in table and "⚠" in table
