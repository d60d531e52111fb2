"""Reorder-DCT compression experiments (reorder_dct_compression.txt §4).

A trained model is compressed over a grid of settings (uniform g x r,
progressive-r r0, each with and without reordering, and the l1-magnitude
baseline); each setting is evaluated as compressed and after one epoch of
fine-tuning (no augmentation, SGD momentum 0.9, lr 0.001 x batch / 256, §4.2).
Every setting appends one row to ``results.jsonl`` (crash-safe, resumable:
finished settings are skipped); `render_table` and `render_plots` make the
markdown table and the two figures (accuracy vs parameters like Fig. 2, nSSE
vs r with and without reordering like §4.1).
"""

import dataclasses
import hashlib
import os
import tempfile
import time

import keras
import numpy as np

from dct_keras.compression import compress, compression_table, l1_prune, plan_compression
from dct_keras.experiment.results import RESULTS_FILE, append_row, read_rows
from dct_keras.experiment.tables import markdown_table, pyplot

FINETUNE_BASE_RATE = 0.001  # x batch size / 256 (§4.2)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One grid point: a strategy with its g and r (or r0), a method."""

    strategy: str
    groups: int
    rate: float | None = None
    r0: float | None = None
    method: str = "reorder"  # "reorder", "no-reorder" (Alg. 2 without Alg. 1) or "l1" (magnitude pruning)

    @property
    def key(self):
        budget = f"r{self.rate:g}" if self.r0 is None else f"r0{self.r0:g}"
        return f"{self.method}-{self.strategy}-g{self.groups}-{budget}"


def default_grid(groups=(4, 8), rates=(2, 4, 8, 16, 32), r0s=(0.125, 0.25, 0.5, 1), methods=("reorder", "no-reorder", "l1")):
    """§4.2's grid: uniform g x r and progressive-r r0 (at the first g), per method."""
    settings = []
    for method in methods:
        settings += [Setting("uniform", g, rate=r, method=method) for g in groups for r in rates]
        settings += [Setting("progressive-r", groups[0], r0=r0, method=method) for r0 in r0s]
    return settings


def model_fingerprint(model):
    """SHA-256 (16 hex digits) of a model's weights: identifies the trained model a row compressed."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()[:16]


def evaluate(model, x, y, batch_size=256):
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return float(model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)["accuracy"])


def finetune(model, x, y, batch_size=64, seed=0, verbose=0, images=None):
    """One epoch, no augmentation, SGD momentum 0.9 at lr 0.001 x batch / 256;
    over the first ``images`` of a seeded shuffle of ``x`` (all when None)."""
    model.compile(optimizer=keras.optimizers.SGD(FINETUNE_BASE_RATE * batch_size / 256, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    order = np.random.default_rng(seed).permutation(len(x))[:images]
    model.fit(x[order], y[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=verbose)
    return model


def saved_bytes(model):
    """Size of the model's ``.keras`` file."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        return os.path.getsize(path)


def run_setting(model, setting, data, batch_size=64, finetune_epochs=1, seed=0, log=print, finetune_images=None):
    """Compresses ``model`` with ``setting``; returns the result row fields."""
    options = dict(groups=setting.groups, rate=setting.rate or 8, r0=setting.r0, strategy=setting.strategy)
    start = time.perf_counter()
    if setting.method == "l1":
        compressed, plans = l1_prune(model, **options)
        kept = sum(p.rows * p.kept for p in plans)
        table = None
    else:
        compressed = compress(model, reorder=setting.method == "reorder", progress=False, **options)
        table = compression_table(model, compressed)
        plans = plan_compression(model, **options)
    seconds = time.perf_counter() - start
    row = {
        "setting": setting.key, "method": setting.method, "strategy": setting.strategy, "groups": setting.groups,
        "rate": setting.rate, "r0": setting.r0, "layers": len(plans), "compress_s": round(seconds, 2),
        "accuracy_compressed": evaluate(compressed, data.x_test, data.y_test),
    }
    if table is not None:
        total = table[-1]
        row.update(params=total["params_after"], trainable=total["trainable_after"], nsse=total["nsse"],
                   bytes=saved_bytes(compressed),
                   nsse_layers={r["layer"]: round(r["nsse"], 6) for r in table[:-1]})
    else:  # l1: the kept weights of the pruned layers, all other weights whole; no index storage counted
        pruned_total = sum(p.size for p in plans)
        row.update(params=sum(int(np.prod(w.shape)) for w in model.weights) - pruned_total + kept, trainable=None,
                   nsse=None, bytes=None)
    if finetune_epochs and setting.method != "l1":
        start = time.perf_counter()
        finetune(compressed, data.x_train, data.y_train, batch_size, seed, images=finetune_images)
        row["finetune_s"] = round(time.perf_counter() - start, 1)
        row["accuracy_finetuned"] = evaluate(compressed, data.x_test, data.y_test)
    log(f"    {setting.key}: params {row['params']:,}, accuracy {row['accuracy_compressed']:.4f}"
        + (f" -> {row['accuracy_finetuned']:.4f} after fine-tuning" if "accuracy_finetuned" in row else ""))
    return row


def run_grid(model, settings, data, out_dir, identity, batch_size=64, finetune_epochs=1, seed=0, log=print,
             finetune_images=None):
    """Runs every setting not yet in ``<out_dir>/results.jsonl`` for this
    trained model and data (``identity``: the fields that key a row)."""
    path = os.path.join(out_dir, RESULTS_FILE)
    done = {row["setting"] for row in read_rows(path) if all(row.get(k) == v for k, v in identity.items())}
    for index, setting in enumerate(settings, start=1):
        if setting.key in done:
            log(f"[{index}/{len(settings)}] {setting.key}: finished earlier, skipped")
            continue
        log(f"[{index}/{len(settings)}] {setting.key}")
        row = run_setting(model, setting, data, batch_size, finetune_epochs, seed, log, finetune_images)
        append_row(path, {**identity, **row})


UNCOMPRESSED = "uncompressed"


def run_reference(model, data, out_dir, identity, batch_size=64, seed=0, log=print, finetune_images=None):
    """The uncompressed model through the same one-epoch fine-tune as the
    settings (a clone; ``model`` is untouched): the row ``uncompressed`` that
    separates what compression costs from what the extra epoch gives."""
    path = os.path.join(out_dir, RESULTS_FILE)
    if any(row.get("setting") == UNCOMPRESSED and all(row.get(k) == v for k, v in identity.items())
           for row in read_rows(path)):
        return
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    start = time.perf_counter()
    finetune(clone, data.x_train, data.y_train, batch_size, seed, images=finetune_images)
    row = {"setting": UNCOMPRESSED, "method": "none", "finetune_s": round(time.perf_counter() - start, 1),
           "accuracy_compressed": evaluate(model, data.x_test, data.y_test),
           "accuracy_finetuned": evaluate(clone, data.x_test, data.y_test)}
    log(f"    uncompressed: accuracy {row['accuracy_compressed']:.4f} -> {row['accuracy_finetuned']:.4f} after the same fine-tune")
    append_row(path, {**identity, **row})


def render_table(rows, reference_accuracy, reference_params, title=None):
    """Markdown: one line per setting, the uncompressed model first."""
    header = ["setting", "method", "params (incl. order)", "% of original", "trainable", "nSSE", "accuracy compressed",
              "after 1-epoch fine-tune"]
    reference = next((r for r in rows if r.get("setting") == UNCOMPRESSED), {})
    rows = [r for r in rows if r.get("setting") != UNCOMPRESSED]
    table = [["uncompressed", "—", f"{reference_params:,}", "100 %", f"{reference_params:,}", "0", f"{reference_accuracy:.4f}",
              f"{reference['accuracy_finetuned']:.4f}" if "accuracy_finetuned" in reference else "—"]]
    for row in sorted(rows, key=lambda r: (r["method"], r["strategy"], r["groups"], r.get("rate") or 0, r.get("r0") or 0)):
        budget = f"g={row['groups']}, " + (f"r={row['rate']:g}" if row.get("r0") is None else f"r0={row['r0']:g}")
        table.append([f"{row['strategy']} {budget}", row["method"], f"{row['params']:,}",
                      f"{100 * row['params'] / reference_params:.1f} %",
                      "—" if row.get("trainable") is None else f"{row['trainable']:,}",
                      "—" if row.get("nsse") is None else f"{row['nsse']:.4f}", f"{row['accuracy_compressed']:.4f}",
                      f"{row['accuracy_finetuned']:.4f}" if "accuracy_finetuned" in row else "—"])
    return markdown_table(header, table, title)


def render_plots(rows, reference_accuracy, reference_params, folder):
    """``accuracy_vs_params.png`` (Fig. 2) and ``nsse_vs_rate.png`` (§4.1)."""
    plt = pyplot()

    reference = next((r for r in rows if r.get("setting") == UNCOMPRESSED), {})
    rows = [r for r in rows if r.get("setting") != UNCOMPRESSED]
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for (method, strategy, groups), style in _series(rows):
        points = sorted((r["params"], r.get("accuracy_finetuned", r["accuracy_compressed"])) for r in rows
                        if (r["method"], r["strategy"], r["groups"]) == (method, strategy, groups))
        tuned = method != "l1"
        axis.plot(*zip(*points), style, label=f"{method} {strategy} g={groups}" + (" (fine-tuned)" if tuned else ""))
    axis.axhline(reference_accuracy, color="k", lw=0.8, ls=":", label="uncompressed")
    if "accuracy_finetuned" in reference:
        axis.axhline(reference["accuracy_finetuned"], color="k", lw=0.8, ls="--", label="uncompressed + the same fine-tune")
    _finish(plt, figure, axis, "parameters (incl. order vectors)", "test accuracy", {"value": "log"},
            os.path.join(folder, "accuracy_vs_params.png"))

    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for (method, strategy, groups), style in _series(rows):
        if method == "l1" or strategy != "uniform":
            continue
        points = sorted((r["rate"], r["nsse"]) for r in rows if (r["method"], r["strategy"], r["groups"]) ==
                        (method, strategy, groups))
        axis.plot(*zip(*points), style, label=f"{method} g={groups}")
    _finish(plt, figure, axis, "compression rate r", "nSSE (all compressed layers)", {"value": "log", "base": 2},
            os.path.join(folder, "nsse_vs_rate.png"))


def _finish(plt, figure, axis, xlabel, ylabel, xscale, path):
    axis.set_xscale(**xscale)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _series(rows):
    keys = sorted({(r["method"], r["strategy"], r["groups"]) for r in rows})
    styles = {"reorder": "-o", "no-reorder": "--s", "l1": ":^"}
    return [(key, styles[key[0]]) for key in keys]
