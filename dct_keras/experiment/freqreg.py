"""Frequency Regularization experiments (frequency_regularization.txt Tables 1-2).

For every model of the config: the reference network (plain layers), then each
setting: the FreqReg network trained with dynamic tail-dropout (`TailDropout`,
beta_n = beta_{n-1} - gamma (beta_{n-1} - epsilon)) towards the setting's kept
fraction epsilon. Each finished run appends a row to
``<out>/<model>/results.jsonl`` with its kept kernel parameters, compress rate
and the accuracy after a float16 export -> load round trip.
"""

import collections
import os
import tempfile

import keras
import numpy as np

import dct_keras
from dct_keras.callbacks import TailDropout
from dct_keras.experiment.plans import PLAIN, RunSpec
from dct_keras.experiment.results import RESULTS_FILE, read_rows
from dct_keras.experiment.runner import make_optimizer
from dct_keras.experiment.tables import SHORT_BUDGET_NOTE, epochs_cell, markdown_table
from dct_keras.models import BUILDERS


def plan(config, model_name, settings=None):
    """The reference run, then one FreqReg run per setting (p = 1 - epsilon)."""
    seeds = range(config["runs"])
    wanted = settings or ["ref"] + list(config["models"][model_name]["settings"])
    runs = [RunSpec(PLAIN, None, s, "ref") for s in seeds] if "ref" in wanted else []
    for name, setting in config["models"][model_name]["settings"].items():
        if name in wanted:
            runs += [RunSpec("freqreg", round(1.0 - setting["epsilon"], 9), s, name) for s in seeds]
    return runs


def model_fn(model_name):
    def build(config, spec, data):
        keras.utils.set_random_seed(spec.seed)
        kwargs = {"num_classes": data.num_classes, "input_shape": data.x_train.shape[1:], "seed": spec.seed}
        if model_name == "vgg16":
            kwargs["l2"] = config["l2"]
        model = BUILDERS[model_name](spec.variant, **kwargs)
        model.compile(optimizer=make_optimizer(config), loss=config["loss"], metrics=["accuracy"])
        return model

    return build


def callbacks_fn(config):
    tail = config["tail_dropout"]

    def callbacks(spec):
        if spec.variant != "freqreg":
            return []
        return [TailDropout(tail["gamma"], 1.0 - spec.p, min_kept=min_kept_of(tail), schedule=tail["schedule"], seed=spec.seed)]

    return callbacks


def row_fn(data, batch_size):
    """Compression numbers and the accuracy after a float16 export round trip."""

    def extra(model, spec=None):
        rows = dct_keras.compression_report(model)
        fields = {"kernel_parameters": rows[-1].total if len(rows) > 1 else None,
                  "kept_kernel_parameters": rows[-1].nonzero if len(rows) > 1 else None}
        if len(rows) > 1:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "model.npz")
                dct_keras.save_compressed(model, path, dtype="float16")
                fields["export_bytes_float16"] = os.path.getsize(path)
                clone = keras.models.clone_model(model)
                clone.compile(loss=model.loss, metrics=["accuracy"])
                dct_keras.load_compressed(clone, path)
                scores = clone.evaluate(data.x_test, data.y_test, batch_size=batch_size, verbose=0, return_dict=True)
                fields["accuracy_float16"] = float(scores["accuracy"])
        return fields

    return extra


def min_kept_of(tail):
    """`TailDropout`'s floor: one count, or per layer kind when the config sets
    the reference code's floors (``min_kept_conv`` / ``_dense`` / ``_transpose``)."""
    kinds = {kind: tail[f"min_kept_{kind}"] for kind in ("conv", "dense", "transpose") if f"min_kept_{kind}" in tail}
    return {**{"conv": tail["min_kept"], "dense": tail["min_kept"], "transpose": tail["min_kept"]}, **kinds} if kinds else tail["min_kept"]


def render_table(config, out_dir, model_names, full_epochs, hashes=None):
    """The markdown table of the runs in ``out_dir`` (only those of the
    experiment identities ``hashes`` when given)."""
    header = ["model", "setting", "ours: accuracy", "float16 accuracy", "kept kernel params", "compress rate", "epochs",
              "wall time", "paper: accuracy", "paper: params"]
    table = []
    for model_name in model_names:
        path = os.path.join(out_dir, model_name, RESULTS_FILE)
        rows = [r for r in read_rows(path) if not hashes or r.get("config_hash") in hashes]
        groups = collections.defaultdict(list)
        for row in rows:
            groups[row["block"]].append(row)
        reference = config["models"][model_name]["reference"]
        for setting in ["ref"] + list(config["models"][model_name]["settings"]):
            runs = groups.get(setting, [])
            if not runs:
                continue
            paper = reference if setting == "ref" else config["models"][model_name]["settings"][setting]["paper"]
            if setting == "ref":
                kept, rate, half = runs[0]["params_trainable"], "100% (1x)", "—"
            else:
                kept = int(np.mean([r["kept_kernel_parameters"] for r in runs]))
                total = runs[0]["kernel_parameters"]
                rate = f"{100 * kept / total:.3g}% ({total / max(kept, 1):.0f}x)"
                half = f"{np.mean([r['accuracy_float16'] for r in runs]):.4f}"
            table.append([model_name, setting, f"{np.mean([r['metric'] for r in runs]):.4f} (n={len(runs)})", half,
                          f"{kept:,}", rate, epochs_cell(runs, full_epochs), f"{sum(r['wall_time_s'] for r in runs):.0f} s",
                          f"{paper['accuracy']:.4f}", f"{paper['parameters']:,}"])
    text = markdown_table(header, table, config["title"], notes=[
        SHORT_BUDGET_NOTE + " Kept kernel params count non-zero kernel coefficients (biases excluded, as in the paper)."])
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(text)
    return text
