"""Harmonic network experiments (harmonic_networks.txt Table 1): WRN and its
harmonic versions under the WRN regime."""

import collections
import os

import keras
import numpy as np

from dct_keras.experiment.results import RESULTS_FILE, read_rows
from dct_keras.experiment.plans import RunSpec
from dct_keras.experiment.runner import make_optimizer
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


def render_table(config, out_dir, full_epochs, num_classes, hashes=None):
    column = "cifar100" if num_classes == 100 else "cifar10"
    rows = read_rows(os.path.join(out_dir, RESULTS_FILE))
    if hashes:
        rows = [r for r in rows if r.get("config_hash") in hashes]
    groups = collections.defaultdict(list)
    for row in rows:
        groups[row["block"]].append(row)
    lines = [f"# {config['title']} — WRN-{config['depth']}-{config['width']}, {column}", "",
             "| variant | ours: median error % | n | parameters | epochs | wall time | paper: median error % (WRN-28-10) |",
             "|---|---|---|---|---|---|---|"]
    for name, setting in config["variants"].items():
        runs = groups.get(name, [])
        if not runs:
            continue
        error = 100 * (1 - np.median([r["metric"] for r in runs]))
        epochs = ",".join(sorted({str(r["epochs_done"]) for r in runs}))
        short = " ⚠" if any(r["epochs_done"] < full_epochs for r in runs) else ""
        lines.append(f"| {name} | {error:.2f} | {len(runs)} | {runs[0]['params_trainable']:,} | {epochs}{short} "
                     f"| {sum(r['wall_time_s'] for r in runs):.0f} s | {setting['paper'][column]:.2f} |")
    lines += ["", "⚠: fewer epochs than the full protocol (`--quick`); not comparable with the paper."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(text)
    return text
