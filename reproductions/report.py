"""Renders Table V of dct_conv.txt from results files, beside the paper's numbers.

    python reproductions/report.py RESULTS [RESULTS ...] [--out DIR]

RESULTS are folders holding ``results.jsonl`` or the files themselves. Writes
``table_v.md`` (mean ± std over runs, n, epochs trained, the paper's value; runs
trained below their config's full budget are flagged) and ``table_v.png``
(metric against p, one panel per problem, block and switch-off policy) into ``--out`` (default:
the first RESULTS folder), and prints the table.
"""

import argparse
import collections
import glob
import json
import os
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from dct_keras.experiment import load_config  # noqa: E402


def read_results(paths):
    rows = []
    for path in paths:
        path = os.path.join(path, "results.jsonl") if os.path.isdir(path) else path
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def paper_configs(config_dir=os.path.join(ROOT, "configs")):
    """Problem number -> config (for titles, blocks and the paper's numbers)."""
    configs = {}
    for path in sorted(glob.glob(os.path.join(config_dir, "problem*.json"))):
        config = load_config(path)
        configs[config["problem"]] = config
    return configs


def _setting(p):
    return "cnn" if p is None else f"{p:g}"


def summarize(rows, configs):
    """Per problem, block and switch-off policy: an ordered list of table cells.

    The config's blocks come first (the paper's policy, "random", beside the
    paper's numbers); then blocks and policies only found in the rows (e.g. a
    sweep's "tail" policy or its "freqreg" variant). Each table lists the
    CNN, the config's p grid and every other p found in the rows.
    """
    groups = collections.defaultdict(list)
    for row in rows:
        groups[(row["problem"], row["block"], row.get("policy", "random"), _setting(row["p"]))].append(row)
    tables = []
    for problem in sorted({r["problem"] for r in rows}):
        config = configs.get(problem)
        config_blocks = config["blocks"] if config else {}
        found = sorted({(k[1], k[2]) for k in groups if k[0] == problem and k[1] is not None})
        keys = [(block, "random") for block in config_blocks] + [key for key in found if key not in
                                                                   {(block, "random") for block in config_blocks}]
        for block, policy in keys:
            block_config = config_blocks.get(block, {})
            paper = block_config.get("paper", {}) if policy == "random" else {}
            observed = {float(k[3]) for k in groups if k[:3] == (problem, block, policy)}
            settings = ["cnn"] + [f"{p:g}" for p in sorted(set(block_config.get("p_grid", [])) | observed)]
            cells = []
            for setting in settings:
                runs = groups.get((problem, None, "random", "cnn") if setting == "cnn" else (problem, block, policy, setting), [])
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
                    "paper": paper.get(setting),
                })
            metric = runs_metric(rows, problem)
            label = block_config.get("label", _BLOCK_LABELS.get(block, block))
            title = (config["title"] if config else f"Problem {problem}") + f", {label}"
            if policy != "random":
                title += f", {policy} switch-off"
            tables.append({"problem": problem, "block": block, "policy": policy, "title": title, "metric": metric, "cells": cells})
    return tables


_BLOCK_LABELS = {"freqreg": "FreqReg layers (p = 1 - kept fraction)"}


def _full_budget(config, row):
    return config["epochs"] if config else row["epochs_budget"]


def runs_metric(rows, problem):
    return next(r["metric_name"] for r in rows if r["problem"] == problem)


def render_markdown(tables):
    lines = ["# Table V of dct_conv.txt: reproduction beside the paper", ""]
    for table in tables:
        precision = 4 if table["metric"] == "accuracy" else 5
        lines += [f"## {table['title']} — {table['metric']}", ""]
        lines += ["| setting | ours (mean ± std) | n | epochs | active params | wall time | paper |", "|---|---|---|---|---|---|---|"]
        for c in table["cells"]:
            ours = "—" if c["mean"] is None else f"{c['mean']:.{precision}f} ± {c['std']:.{precision}f}"
            epochs = ",".join(map(str, c["epochs"])) + (" ⚠ below full budget" if c["short"] else "")
            paper = "—" if c["paper"] is None else f"{c['paper']:.{precision}f}"
            active = "—" if c["active"] is None else f"{c['active']:,}"
            setting = "CNN" if c["setting"] == "cnn" else f"p = {c['setting']}"
            lines.append(f"| {setting} | {ours} | {c['n']} | {epochs or '—'} | {active} | {c['wall_time_s']:.0f} s | {paper} |")
        lines.append("")
    lines.append("⚠ marks runs trained for fewer epochs than the full protocol (e.g. `--quick`): not comparable with the paper.")
    return "\n".join(lines) + "\n"


def render_plot(tables, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(tables))
    rows = -(-len(tables) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.9 * rows), squeeze=False)
    for ax in axes.ravel()[len(tables):]:
        ax.axis("off")
    for ax, table in zip(axes.ravel(), tables):
        cells = [c for c in table["cells"] if c["setting"] != "cnn"]
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
        ax.set_title(textwrap.fill(table["title"], 48), fontsize=8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Render Table V from results.jsonl files.")
    parser.add_argument("results", nargs="+", help="results folders or .jsonl files")
    parser.add_argument("--out", help="output folder (default: the first results folder)")
    args = parser.parse_args(argv)
    rows = read_results(args.results)
    if not rows:
        sys.exit("error: no results in " + ", ".join(args.results))
    out = args.out or (args.results[0] if os.path.isdir(args.results[0]) else os.path.dirname(args.results[0]))
    os.makedirs(out, exist_ok=True)
    tables = summarize(rows, paper_configs())
    markdown = render_markdown(tables)
    with open(os.path.join(out, "table_v.md"), "w") as f:
        f.write(markdown)
    render_plot(tables, os.path.join(out, "table_v.png"))
    print(markdown)
    print(f"wrote {os.path.join(out, 'table_v.md')} and {os.path.join(out, 'table_v.png')}")


if __name__ == "__main__":
    main()
