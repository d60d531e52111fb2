import json
import os
import subprocess
import sys

import pytest

from dct_keras.experiment.config import load_config, resolve_config
from dct_keras.experiment.dct_conv import summarize
from dct_keras.experiment.report import render_folder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(ROOT, "results", "reference")


def _row(p, seed, metric, epochs=200, block="all", policy="random", variant=None, config_hash="h"):
    variant = variant or ("plain" if p is None else "dct")
    setting = "plain" if p is None else f"{variant}-p{p:g}" + ("" if policy == "random" else f"-{policy}")
    return {
        "method": "dct_conv", "experiment": "problem2_vgg16", "setting": setting, "seed": seed, "run": f"{setting}-seed{seed}",
        "metric_name": "accuracy", "metric": metric, "test_loss": 1.0, "epochs_done": epochs, "epochs_budget": epochs,
        "wall_time_s": 10.0, "params": {"total": 10, "trainable": 9, "active": 5}, "config_hash": config_hash,
        "method_fields": {"block": None if p is None else block, "variant": variant, "switch_off": p, "switch_off_policy": policy},
    }


def _report(*args):
    return subprocess.run([sys.executable, "-m", "dct_keras", "report", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})


def test_report_renders_table_and_plot(tmp_path):
    rows = [_row(None, 0, 0.70), _row(None, 1, 0.72), _row(0.0, 0, 0.73), _row(0.5, 0, 0.71, epochs=1)]
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = _report(tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    table = (tmp_path / "table.md").read_text()
    assert "| CNN (plain) | 0.7100 ± 0.0141 | 2 (0,1) | 200 |" in table
    assert "| p = 0 | 0.7300 ± 0.0000 | 1 (0) | 200 |" in table
    assert "| p = 0.5 | 0.7100 ± 0.0000 | 1 (0) | 1 ⚠ below full budget |" in table
    assert "| 0.7177 |" in table and "| p = 0.9 | — | 0 |" in table  # paper value; a setting with no runs
    assert (tmp_path / "table_v.png").stat().st_size > 1000


def test_sweep_rows_get_tables_per_policy_and_variant():
    tail = _row(0.5, 0, 0.60, policy="tail")
    off_grid = _row(0.45, 0, 0.65)
    freqreg = _row(0.9, 0, 0.55, block="freqreg", variant="freqreg", policy="tail")
    tables = summarize([_row(None, 0, 0.70), tail, off_grid, freqreg], load_config(resolve_config("problem2_vgg16")))
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
    rows = [_row(0.5, 0, 0.70), {**_row(0.5, 1, 0.10, config_hash="other"), "epochs_budget": 2, "epochs_done": 2}]
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    markdown, paths = render_folder(str(tmp_path))
    assert "config h." in markdown and "config other." in markdown  # one section per experiment identity
    assert "0.7000 ± 0.0000" in markdown and "0.1000 ± 0.0000" in markdown and "0.4000" not in markdown
    assert sorted(os.path.basename(os.path.dirname(p)) for p in paths if p.endswith(".png")) == [
        "problem2_vgg16-h", "problem2_vgg16-other"]


@pytest.mark.parametrize("folder", sorted(name for name in os.listdir(REFERENCE)
                                          if os.path.exists(os.path.join(REFERENCE, name, "results.jsonl")))
                         if os.path.isdir(REFERENCE) else [])
def test_every_committed_reference_folder_renders_as_committed(folder, tmp_path):
    # The committed tables are what the report renders from the committed rows (docs cannot drift).
    source = os.path.join(REFERENCE, folder)
    markdown, _ = render_folder(source, out_dir=str(tmp_path))
    with open(os.path.join(source, "table.md"), encoding="utf-8") as f:
        assert f.read() == markdown


def test_report_errors_are_one_paragraph(tmp_path):
    missing = _report(tmp_path / "nope")
    assert missing.returncode == 2 and missing.stderr.startswith("error: results path") and "Traceback" not in missing.stderr
    empty = _report(tmp_path)
    assert empty.returncode == 2 and "holds no results.jsonl" in empty.stderr and "Traceback" not in empty.stderr
    (tmp_path / "results.jsonl").write_text('{"method": "dct_conv", "trunc')
    truncated = _report(tmp_path)
    assert truncated.returncode == 1 and "no complete result rows" in truncated.stderr
    assert "line 1" in truncated.stderr and "Traceback" not in truncated.stderr  # the warning names the line
    (tmp_path / "results.jsonl").write_text(json.dumps({"problem": 2, "metric": 0.5}) + "\n")
    foreign = _report(tmp_path)
    assert foreign.returncode == 1 and "without `method`" in foreign.stderr.replace("\n", " ") and "Traceback" not in foreign.stderr
    (tmp_path / "results.jsonl").write_text(json.dumps({**_row(None, 0, 0.7), "experiment": "mine"}) + "\n")
    unknown = _report(tmp_path)
    assert unknown.returncode == 1 and "no config for the experiment 'mine'" in unknown.stderr.replace("\n", " ")

