"""Harmonic network experiments (harmonic_networks.txt Table 1): WRN and its
harmonic versions under the WRN regime."""

import collections
import os

import keras
import numpy as np

from dct_keras.experiment.results import RESULTS_FILE, read_rows
from dct_keras.experiment.plans import RunSpec
from dct_keras.experiment.runner import make_optimizer
from dct_keras.experiment.tables import SHORT_BUDGET_NOTE, epochs_cell, markdown_table, pyplot
from dct_keras.models.harmonic_nets import wide_resnet


def plan(config, variants=None):
    """One run per variant name and seed (the name, slugged, keys the run)."""
    names = variants or list(config["variants"])
    return [RunSpec(name.replace(" ", "_"), None, seed, name) for name in names for seed in range(config["runs"])]


def model_fn(config, spec, data):
    setting = config["variants"][spec.block]
    keras.utils.set_random_seed(spec.seed)
    model = wide_resnet(
        setting["variant"], depth=config["depth"], width=config["width"], num_classes=data.num_classes,
        input_shape=data.x_train.shape[1:], dropout=setting["dropout"], levels=setting.get("levels"), l2=config["l2"],
    )
    model.compile(optimizer=make_optimizer(config), loss=config["loss"], metrics=["accuracy"])
    return model


def _rows(out_dir, hashes):
    rows = read_rows(os.path.join(out_dir, RESULTS_FILE))
    return [r for r in rows if r.get("config_hash") in hashes] if hashes else rows


def render_table(config, out_dir, full_epochs, num_classes, hashes=None):
    """``table.md``: each variant's median test error beside the paper's."""
    column = "cifar100" if num_classes == 100 else "cifar10"
    rows = _rows(out_dir, hashes)
    groups = collections.defaultdict(list)
    for row in rows:
        groups[row["block"]].append(row)
    header = ["variant", "ours: median error %", "n", "parameters", "epochs", "wall time", "paper: median error % (WRN-28-10)"]
    table = []
    for name, setting in config["variants"].items():
        runs = groups.get(name, [])
        if runs:
            table.append([name, f"{100 * (1 - np.median([r['metric'] for r in runs])):.2f}", len(runs),
                          f"{runs[0]['params_trainable']:,}", epochs_cell(runs, full_epochs),
                          f"{sum(r['wall_time_s'] for r in runs):.0f} s", f"{setting['paper'][column]:.2f}"])
    text = markdown_table(header, table, f"{config['title']} — WRN-{config['depth']}-{config['width']}, {column}",
                          notes=[SHORT_BUDGET_NOTE])
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(text)
    return text


def render_plot(config, out_dir, hashes=None):
    """``curves.png``: each run's training accuracy per epoch (augmented,
    dropout on), its final test accuracy as a star at its last epoch."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for row in _rows(out_dir, hashes):
        epochs = range(1, len(row["history"]) + 1)
        line, = axis.plot(epochs, [e["accuracy"] for e in row["history"]], "-o", ms=3,
                          label=f"{row['block']} (seed {row['seed']}): test {row['metric']:.4f}")
        axis.plot(row["epochs_done"], row["metric"], "*", ms=12, color=line.get_color())
    axis.set_xlabel("epoch")
    axis.set_ylabel("accuracy (line: training; star: test)")
    axis.set_title(f"{config['title']}: WRN-{config['depth']}-{config['width']}, {config['tier']} tier", fontsize=8)
    axis.legend(fontsize=7)
    figure.tight_layout()
    path = os.path.join(out_dir, "curves.png")
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
