"""DCT-Conv, Table V of dct_conv.txt (Problems 1-4), as one `Method`.

The protocol of §V-G:

1. the original CNN (``plain``) is trained;
2. its convolutions are replaced by DCT-Conv layers with nothing switched off
   (p = 0), coefficients initialized as the filters were, and trained from
   the beginning;
3. for every p of the block's grid: fresh masks, re-initialized coefficients,
   trained from the beginning.

A config's ``blocks`` are Table V's blocks (``all``: every filter a DCT-Conv
one; ``spatial``: only the 3x3 ones), each with its p grid and the paper's
numbers. A run's ``method_fields``: ``block``, ``variant`` (the builders'
layer family: "plain", "dct", "dct_spatial"; the keras-tuner sweep adds
"freqreg"), ``switch_off`` (Table V's p) and ``switch_off_policy`` ("random",
the paper; "tail", the highest frequencies).

The table (one per block, switch-off policy and experiment identity, so runs
of different configs, budgets or data are never averaged together) sets the
mean ± std over seeds beside the paper's numbers; the plot has one panel per
table.
"""

import collections
import os
import textwrap

import numpy as np

from dct_keras.experiment.config import NUMBER
from dct_keras.experiment.errors import ConfigError
from dct_keras.experiment.protocol import Method, RunSpec, select_numbers
from dct_keras.experiment.tables import budget_text, markdown_table, pyplot

PLAIN = "plain"
SWITCH_OFF_POLICIES = ("random", "tail")
_BLOCK_LABELS = {"freqreg": "FreqReg layers (p = 1 - kept fraction)"}


def setting_name(variant, switch_off, policy="random"):
    """A run's setting: ``plain`` or ``<variant>-p<p>`` (Table V's p), with
    ``-tail`` for the tail switch-off policy."""
    if switch_off is None:
        return PLAIN
    return f"{variant}-p{switch_off:g}" + ("" if policy == "random" else f"-{policy}")


def run_spec(variant, switch_off, seed, block=None, policy="random", **more):
    """The `RunSpec` of one DCT-Conv run (``switch_off`` None: the plain CNN)."""
    options = {"block": block, "variant": variant, "switch_off": switch_off, "switch_off_policy": policy, **more}
    return RunSpec(setting_name(variant, switch_off, policy), seed, options)


class DCTConv(Method):
    """dct_conv.txt Table V: the CNN, then DCT-Conv at every p of a block's grid."""

    name = "dct_conv"
    schema = {"model": str, "blocks": dict}
    BLOCK_SCHEMA = {"variant": str, "p_grid": list, "paper": dict, "label": str}

    @classmethod
    def validate(cls, config, source):
        from dct_keras.experiment.config import check_section

        for name, block in config["blocks"].items():
            check_section(block, cls.BLOCK_SCHEMA, f"blocks.{name}.", source, {f"blocks.{name}.label"})
            if block["variant"] not in ("dct", "dct_spatial"):
                raise ConfigError(f"{source}: `blocks.{name}.variant` must be 'dct' or 'dct_spatial', got {block['variant']!r}.")
            if not all(isinstance(p, NUMBER) and not isinstance(p, bool) and 0 <= p <= 1 for p in block["p_grid"]):
                raise ConfigError(f"{source}: `blocks.{name}.p_grid` must hold numbers in [0, 1].")

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--block", "--variant", dest="block", metavar="BLOCK",
                            help="Table V block to run: a name of the config's blocks, or 'both' (default: the first)")
        parser.add_argument("--switch-off", "--p", dest="switch_off", nargs="+", metavar="P",
                            help="only these settings: Table V's switch-off probabilities p of the grid and/or 'plain'")

    def blocks(self, args=None):
        """The selected Table V blocks (default: the first; 'both'/'all blocks': every one)."""
        from dct_keras.experiment.errors import UsageError

        names = list(self.config["blocks"])
        chosen = getattr(args, "block", None)
        if chosen is None:
            return names[:1]
        if chosen == "both":
            return names
        if chosen not in names:
            raise UsageError(f"--block {chosen}: the config's blocks are {names} (or 'both')")
        return [chosen]

    def plan(self, args=None):
        """Runs in protocol order: the plain CNN, then DCT at p = 0, then the other p's."""
        blocks = self.blocks(args)
        grid = sorted({p for name in blocks for p in self.config["blocks"][name]["p_grid"]})
        wanted = select_numbers(getattr(args, "switch_off", None), grid, "--switch-off")
        numbers = [] if wanted is None else [p for p in wanted if not isinstance(p, str)]
        seeds = range(self.config["runs"])
        plan = []
        if wanted is None or PLAIN in wanted:
            plan += [run_spec(PLAIN, None, s) for s in seeds]
        for stage_zero in (True, False):
            for name in blocks:
                block = self.config["blocks"][name]
                for p in block["p_grid"]:
                    if (p == 0) != stage_zero or (wanted is not None and not any(abs(p - q) < 1e-9 for q in numbers)):
                        continue
                    plan += [run_spec(block["variant"], float(p), s, name) for s in seeds]
        return plan

    def build(self, spec, data):
        """The problem's model in the run's variant, compiled with its regime."""
        import keras

        from dct_keras.experiment.runner import compile_model
        from dct_keras.models import BUILDERS

        options = spec.options
        kwargs = {"input_shape": tuple(data.x_train.shape[1:]), "seed": spec.seed}
        if self.config["task"] == "classification":
            kwargs["num_classes"] = data.num_classes
        if self.config.get("l2"):
            kwargs["l2"] = self.config["l2"]
        if options["variant"] in ("dct", "dct_spatial"):
            kwargs.update(switch_off=options["switch_off"] or 0.0, switch_off_policy=options["switch_off_policy"])
        keras.utils.set_random_seed(spec.seed)
        return compile_model(BUILDERS[self.config["model"]](options["variant"], **kwargs), self.config)

    def render(self, rows, out_dir, results_dir=None):
        tables = summarize(rows, self.config)
        plot = os.path.join(out_dir, "table_v.png")
        render_plot(tables, plot)
        return render_markdown(tables), [plot]


METHOD = DCTConv


def _setting(row):
    p = row["method_fields"]["switch_off"]
    return PLAIN if p is None else f"{p:g}"


def summarize(rows, config):
    """Per experiment identity, block and switch-off policy: a table of cells.

    The config's blocks come first (the paper's policy, "random", beside the
    paper's numbers); then blocks and policies only found in the rows (e.g. a
    sweep's "tail" policy or its "freqreg" variant). Each table lists the
    CNN, the config's p grid and every other p found in the rows.
    """
    tables = []
    identities = sorted({r.get("config_hash") for r in rows}, key=str)
    for identity in identities:
        group = [r for r in rows if r.get("config_hash") == identity]
        tables += _tables_of(group, config, len(identities) > 1)
    return tables


def _tables_of(rows, config, several):
    """The tables of one experiment identity."""
    groups = collections.defaultdict(list)
    for row in rows:
        fields = row["method_fields"]
        groups[(fields["block"], fields["switch_off_policy"], _setting(row))].append(row)
    config_blocks = config["blocks"] if config else {}
    found = sorted({(k[0], k[1]) for k in groups if k[0] is not None})
    paper_keys = [(block, "random") for block in config_blocks]
    keys = [key for key in paper_keys if key in found or not several] + [key for key in found if key not in paper_keys]
    budget = budget_text(rows[0])
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
                "short": any(r["epochs_done"] < (config["epochs"] if config else r["epochs_budget"]) for r in runs),
                "wall_time_s": sum(r["wall_time_s"] for r in runs),
                "active": runs[0]["params"]["active"] if runs else None,
                "seeds": sorted({r["seed"] for r in runs}),
                "paper": (paper.get("cnn") if setting == PLAIN else paper.get(setting)),
            })
        label = block_config.get("label", _BLOCK_LABELS.get(block, block))
        title = (config["title"] if config else rows[0]["experiment"]) + f", {label}"
        if policy != "random":
            title += f", {policy} switch-off"
        chance = 1 / rows[0]["classes"] if rows[0]["metric_name"] == "accuracy" and rows[0].get("classes") else None
        tables.append({"block": block, "policy": policy, "title": title, "budget": budget, "chance": chance,
                       "config_hash": rows[0].get("config_hash"), "metric": rows[0]["metric_name"], "cells": cells})
    return tables


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
        if table.get("chance"):
            ax.axhline(table["chance"], color="0.5", lw=0.8, ls="--", label=f"chance ({table['chance']:.2g})")
        ax.set_xticks(list(positions), labels)
        ax.set_xlabel("switch-off probability p")
        ax.set_ylabel(table["metric"])
        ax.set_title(textwrap.fill(f"{table['title']} ({table['budget']})", 60), fontsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
