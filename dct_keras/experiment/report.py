"""Table V of dct_conv.txt from results files, beside the paper's numbers.

Rows are grouped before they are averaged: a table holds the rows of one
problem, one experiment identity (``config_hash``: the effective config,
budget included, and the data's content hash), one Table V block and one
switch-off policy, so runs of different configs, budgets or data are never
mixed in one mean; each such group gets its own table, titled with its budget
and data. The rendering (markdown + a PNG of panels) is `render_markdown` /
`render_plot`; ``reproductions/report.py`` is the command line.
"""

import collections
import glob
import os
import textwrap

import numpy as np

from dct_keras.experiment.config import load_config
from dct_keras.experiment.plans import PLAIN
from dct_keras.experiment.results import RESULTS_FILE, read_rows
from dct_keras.experiment.tables import markdown_table, pyplot

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs")
def read_results(paths):
    """The rows of results folders / files, in today's vocabulary (older rows
    say ``policy`` and variant ``cnn``). A truncated line is skipped with a
    warning naming the file and line."""
    rows = []
    for path in paths:
        path = os.path.join(path, RESULTS_FILE) if os.path.isdir(path) else path
        for row in read_rows(path):
            row.setdefault("switch_off_policy", row.pop("policy", "random"))
            if row.get("variant") in ("cnn", "baseline"):
                row["variant"] = PLAIN
            if "test_metric" in row:  # a search selected on a validation split: report the test set
                row["selection_metric"], row["metric"] = row["metric"], row["test_metric"]
            rows.append(row)
    return rows


def paper_configs(config_dir=CONFIG_DIR):
    """Problem number -> config (for titles, blocks and the paper's numbers)."""
    configs = {}
    for path in sorted(glob.glob(os.path.join(config_dir, "problem*.json"))):
        config = load_config(path)
        configs[config["problem"]] = config
    return configs


def _setting(p):
    return PLAIN if p is None else f"{p:g}"


def summarize(rows, configs):
    """Per problem, block and switch-off policy: an ordered list of table cells.

    The config's blocks come first (the paper's policy, "random", beside the
    paper's numbers); then blocks and policies only found in the rows (e.g. a
    sweep's "tail" policy or its "freqreg" variant). Each table lists the
    CNN, the config's p grid and every other p found in the rows.
    """
    tables = []
    for problem in sorted({r["problem"] for r in rows}, key=str):
        identities = sorted({r.get("config_hash") for r in rows if r["problem"] == problem}, key=str)
        for identity in identities:
            group = [r for r in rows if r["problem"] == problem and r.get("config_hash") == identity]
            tables += _tables_of(group, problem, configs.get(problem), len(identities) > 1)
    return tables


def _tables_of(rows, problem, config, several):
    """The tables of one problem and one experiment identity."""
    groups = collections.defaultdict(list)
    for row in rows:
        groups[(row["block"], row["switch_off_policy"], _setting(row["p"]))].append(row)
    config_blocks = config["blocks"] if config else {}
    found = sorted({(k[0], k[1]) for k in groups if k[0] is not None})
    paper_keys = [(block, "random") for block in config_blocks]
    keys = [key for key in paper_keys if key in found or not several] + [key for key in found if key not in paper_keys]
    budget = _budget_text(rows[0])
    tables = []
    for block, policy in keys:
        block_config = config_blocks.get(block, {})
        paper = block_config.get("paper", {}) if policy == "random" else {}
        observed = {float(k[2]) for k in groups if k[:2] == (block, policy)}
        settings = [PLAIN] + [f"{p:g}" for p in sorted(set(block_config.get("p_grid", [])) | observed)]
        cells = []
        for setting in settings:
            runs = groups.get((None, "random", PLAIN) if setting == PLAIN else (block, policy, setting), [])
            metrics = np.array([r["metric"] for r in runs])
            cells.append({
                "setting": setting,
                "n": len(runs),
                "mean": float(metrics.mean()) if len(runs) else None,
                "std": float(metrics.std(ddof=1)) if len(runs) > 1 else 0.0 if len(runs) else None,
                "epochs": sorted({r["epochs_done"] for r in runs}),
                "short": any(r["epochs_done"] < _full_budget(config, r) for r in runs),
                "wall_time_s": sum(r["wall_time_s"] for r in runs),
                "active": runs[0]["params_active"] if runs else None,
                "seeds": sorted({r["seed"] for r in runs}),
                "paper": (paper.get("cnn") if setting == PLAIN else paper.get(setting)),
            })
        label = block_config.get("label", _BLOCK_LABELS.get(block, block))
        title = (config["title"] if config else f"Problem {problem}") + f", {label}"
        if policy != "random":
            title += f", {policy} switch-off"
        tables.append({"problem": problem, "block": block, "policy": policy, "title": title, "budget": budget,
                       "config_hash": rows[0].get("config_hash"), "metric": rows[0]["metric_name"], "cells": cells})
    return tables


def _budget_text(row):
    """What a table's runs were trained on and for."""
    examples = f"{row.get('train_examples', '?')} train / {row.get('test_examples', '?')} test"
    return (f"{row.get('tier', 'full')} tier: {row['epochs_budget']} epochs, batch {row.get('batch_size', '?')}, "
            f"{examples} images of {os.path.basename(str(row.get('data', '?')).split(' (first')[0])}, config {row.get('config_hash', '?')}")


_BLOCK_LABELS = {"freqreg": "FreqReg layers (p = 1 - kept fraction)"}


def _full_budget(config, row):
    return config["epochs"] if config else row["epochs_budget"]


def render_markdown(tables):
    sections = ["# Table V of dct_conv.txt: reproduction beside the paper\n"]
    header = ["setting", "ours (mean ± std)", "n (seeds)", "epochs", "active params", "wall time", "ours / plain", "paper",
              "paper / plain"]
    for table in tables:
        precision = 4 if table["metric"] == "accuracy" else 5
        plain = table["cells"][0]
        rows = []
        for c in table["cells"]:
            ours = "—" if c["mean"] is None else f"{c['mean']:.{precision}f} ± {c['std']:.{precision}f}"
            epochs = ",".join(map(str, c["epochs"])) + (" ⚠ below full budget" if c["short"] else "")
            rows.append([
                "CNN (plain)" if c["setting"] == PLAIN else f"p = {c['setting']}", ours,
                f"{c['n']} ({','.join(map(str, c['seeds']))})" if c["n"] else "0", epochs or "—",
                "—" if c["active"] is None else f"{c['active']:,}", f"{c['wall_time_s']:.0f} s", _ratio(c["mean"], plain["mean"]),
                "—" if c["paper"] is None else f"{c['paper']:.{precision}f}", _ratio(c["paper"], plain["paper"]),
            ])
        sections.append(markdown_table(header, rows, f"{table['title']} — {table['metric']}", 2, table["budget"]))
    sections.append("⚠ marks runs trained for fewer epochs than the full protocol (e.g. `--quick`): not comparable with the paper.\n")
    return "\n".join(sections)


def _ratio(value, plain):
    return "—" if value is None or not plain else f"{value / plain:.3f}"


def render_plot(tables, path):
    plt = pyplot()

    columns = min(3, len(tables))
    rows = -(-len(tables) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.9 * rows), squeeze=False)
    for ax in axes.ravel()[len(tables):]:
        ax.axis("off")
    for ax, table in zip(axes.ravel(), tables):
        cells = [c for c in table["cells"] if c["setting"] != PLAIN]
        labels = [c["setting"] for c in cells]
        positions = range(len(cells))
        ours = [c["mean"] if c["mean"] is not None else np.nan for c in cells]
        errors = [c["std"] or 0 for c in cells]
        ax.errorbar(positions, ours, yerr=errors, marker="o", label="ours")
        if any(c["paper"] is not None for c in cells):
            ax.plot(positions, [c["paper"] if c["paper"] is not None else np.nan for c in cells], "s--", label="paper")
        cnn = table["cells"][0]
        if cnn["mean"] is not None:
            ax.axhline(cnn["mean"], color="C0", lw=0.8, ls=":", label="ours, CNN")
        if cnn["paper"] is not None:
            ax.axhline(cnn["paper"], color="C1", lw=0.8, ls=":", label="paper, CNN")
        ax.set_xticks(list(positions), labels)
        ax.set_xlabel("switch-off probability p")
        ax.set_ylabel(table["metric"])
        ax.set_title(textwrap.fill(f"{table['title']} ({table['budget']})", 60), fontsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
