import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _row(p, seed, metric, epochs=200, block="all"):
    return {
        "problem": 2, "block": None if p is None else block, "variant": "plain" if p is None else "dct", "p": p,
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
    assert "| CNN (plain) | 0.7100 ± 0.0141 | 2 (0,1) | 200 |" in table
    assert "| p = 0 | 0.7300 ± 0.0000 | 1 (0) | 200 |" in table
    assert "| p = 0.5 | 0.7100 ± 0.0000 | 1 (0) | 1 ⚠ below full budget |" in table
    assert "| 0.7177 |" in table and "| p = 0.9 | — | 0 |" in table  # paper value; a setting with no runs
    assert (tmp_path / "table_v.png").stat().st_size > 1000


def test_sweep_rows_get_tables_per_policy_and_variant():
    from dct_keras.experiment import report

    tail = {**_row(0.5, 0, 0.60), "switch_off_policy": "tail"}
    off_grid = {**_row(0.45, 0, 0.65), "policy": "random"}  # the old field name still reads
    freqreg = {**_row(0.9, 0, 0.55, block="freqreg"), "variant": "freqreg", "switch_off_policy": "tail"}
    rows = [_row(None, 0, 0.70), tail, off_grid, freqreg]
    for row in rows:
        row.setdefault("switch_off_policy", row.pop("policy", "random"))
    tables = report.summarize(rows, report.paper_configs())
    keys = [(t["block"], t["policy"]) for t in tables]
    assert keys == [("all", "random"), ("all", "tail"), ("freqreg", "tail")]
    paper_table, tail_table, freqreg_table = tables
    assert [c["setting"] for c in paper_table["cells"]] == ["plain", "0", "0.3", "0.45", "0.5", "0.7", "0.9"]
    assert next(c for c in paper_table["cells"] if c["setting"] == "0.45")["mean"] == 0.65
    assert next(c for c in tail_table["cells"] if c["setting"] == "0.5")["mean"] == 0.60
    assert all(c["paper"] is None for c in tail_table["cells"])  # the paper has no tail policy
    assert "tail switch-off" in tail_table["title"] and "FreqReg" in freqreg_table["title"]
    assert tail_table["cells"][0]["mean"] == 0.70  # the CNN baseline is shown in every table


def test_report_never_averages_different_configs(tmp_path):
    from dct_keras.experiment import report

    rows = [_row(0.5, 0, 0.70), {**_row(0.5, 1, 0.10), "config_hash": "other", "epochs_budget": 2, "epochs_done": 2}]
    for row in rows:
        row["switch_off_policy"] = "random"
    tables = report.summarize(rows, report.paper_configs())
    means = sorted(c["mean"] for t in tables for c in t["cells"] if c["setting"] == "0.5" and c["mean"] is not None)
    assert means == [0.10, 0.70]  # two tables, one per experiment identity, never their average
    assert {t["config_hash"] for t in tables} == {"h", "other"}


def _report(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "reproductions", "report.py"), *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})


def test_report_errors_are_one_paragraph(tmp_path):
    missing = _report(tmp_path / "nope")
    assert missing.returncode == 2 and missing.stderr.startswith("error: results path") and "Traceback" not in missing.stderr
    empty = _report(tmp_path)
    assert empty.returncode == 2 and "holds no results.jsonl" in empty.stderr and "Traceback" not in empty.stderr
    (tmp_path / "results.jsonl").write_text('{"problem": 2, "trunc')
    truncated = _report(tmp_path)
    assert truncated.returncode == 1 and "no complete result rows" in truncated.stderr
    assert "line 1" in truncated.stderr and "Traceback" not in truncated.stderr  # the warning names the line
