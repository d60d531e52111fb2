import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _row(p, seed, metric, epochs=200, block="all"):
    return {
        "problem": 2, "block": None if p is None else block, "variant": "cnn" if p is None else "dct", "p": p,
        "seed": seed, "run": f"x{p}{seed}", "metric_name": "accuracy", "metric": metric, "test_loss": 1.0,
        "epochs_done": epochs, "epochs_budget": epochs, "wall_time_s": 10.0, "params_total": 10,
        "params_trainable": 9, "params_active": 5, "config_hash": "h",
    }


def test_report_renders_table_and_plot(tmp_path):
    rows = [_row(None, 0, 0.70), _row(None, 1, 0.72), _row(0.0, 0, 0.73), _row(0.5, 0, 0.71, epochs=1)]
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "reproductions", "report.py"), str(tmp_path)],
        capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    table = (tmp_path / "table_v.md").read_text()
    assert "| CNN | 0.7100 ± 0.0141 | 2 | 200 |" in table
    assert "| p = 0 | 0.7300 ± 0.0000 | 1 | 200 |" in table
    assert "| p = 0.5 | 0.7100 ± 0.0000 | 1 | 1 ⚠ below full budget |" in table
    assert "| 0.7177 |" in table and "| p = 0.9 | — | 0 |" in table  # paper value; a setting with no runs
    assert (tmp_path / "table_v.png").stat().st_size > 1000
