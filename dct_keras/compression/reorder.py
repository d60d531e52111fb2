"""Reorder-DCT compression of a trained model (reorder_dct_compression.txt).

`compress(model, ...)` returns a new model in which every compressed
`Conv2D` / `Dense` (the output Dense is treated as a 1x1 convolution, §4.2)
is a `ReorderDCTConv2D` / `ReorderDCTDense`: its kernel reshaped to ``g`` rows
(paper order out, in, kh, kw), columns reordered greedily (Alg. 1, the spectral
core's `greedy_order`), ``t = int(p / g / r)`` DCT coefficients kept per row
(Alg. 2). The layers decompress differentiably (Alg. 3), so the model can be
fine-tuned; `dct_keras.fold` turns it back into plain Keras.

Strategies (§3): ``"uniform"`` (g and r for every layer), ``"progressive-r"``
(``r_l = 1 + r0 sqrt(p_l / p_ref)``, the smallest compressed layer as
reference) and ``"progressive-g"`` (``g_l = max(g, 2^floor(log2(sqrt(p_l /
p_ref))))``, r fixed; the paper's eq. (4) is g = 2). Baselines: ``reorder=False`` (no reordering) and
`l1_prune` (the paper's: keep the ``t`` size-g columns of the same reshape
with the largest l1 norms; or, ours, the ``t`` largest weights of every row).
"""

import concurrent.futures
import dataclasses
import math
import numbers
import os
import sys
import time
import warnings

import keras
import numpy as np

from dct_keras.accounting import count_params
from dct_keras.layers.base import FAMILIES
from dct_keras.spectral.orders import DISTANCES
from dct_keras.surgery import is_spectral, replace_layers, walk_layers

STRATEGIES = ("uniform", "progressive-r", "progressive-g")
_COMPRESSIBLE = (keras.layers.Conv2D, keras.layers.Dense)


@dataclasses.dataclass
class LayerPlan:
    """How one layer is compressed: its parameter count ``p``, rows ``g``,
    compression rate ``r`` and kept coefficients per row ``t``."""

    name: str
    size: int
    rows: int
    compression_rate: float
    kept: int

    @property
    def columns(self):
        return self.size // self.rows



class NothingToCompress(ValueError):
    """The model has no layer reorder-DCT compresses (a property of the model, not of the arguments)."""

def _check(value, name, low, integer=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral if integer else numbers.Real) or not value >= low \
            or not math.isfinite(value):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"Invalid value for argument `{name}`: expected {kind} >= {low:g}, received {value!r}.")


def compressible_layers(model, skip=None):
    """The `Conv2D` / `Dense` layers `compress` acts on: all of them except
    ``skip`` (layer names; default: the first `Conv2D`, as the paper omits
    the first layer). Grouped convolutions are left alone."""
    layers = [layer for layer in walk_layers(model) if type(layer) in _COMPRESSIBLE and getattr(layer, "groups", 1) == 1]
    if skip is None:
        first = next((layer for layer in layers if isinstance(layer, keras.layers.Conv2D)), None)
        skip = [] if first is None else [first.name]
    unknown = set(skip) - {layer.name for layer in walk_layers(model)}
    if unknown:
        raise ValueError(f"Invalid value for argument `skip`: no layers named {sorted(unknown)} in the model.")
    return [layer for layer in layers if layer.name not in set(skip)]


def plan_compression(model, rows=4, compression_rate=8, r0=None, strategy="uniform", skip=None):
    """The `LayerPlan` of every layer `compress` would compress."""
    if strategy not in STRATEGIES:
        raise ValueError(f"Invalid value for argument `strategy`: expected one of {STRATEGIES}, received {strategy!r}.")
    _check(rows, "rows", 1, integer=True)
    if strategy == "progressive-r":
        if r0 is None:
            raise ValueError("Invalid value for argument `r0`: strategy 'progressive-r' needs r0 > 0 (e.g. 0.125-2).")
        _check(r0, "r0", 0)
        if r0 == 0:
            raise ValueError("Invalid value for argument `r0`: expected a number > 0, received 0.")
    else:
        _check(compression_rate, "compression_rate", 1)
    layers = compressible_layers(model, skip)
    if not layers:
        spectral = any(is_spectral(layer) for layer in walk_layers(model))
        raise NothingToCompress("The model has nothing to compress: no Conv2D or Dense layer outside `skip`."
                         + (" Its layers are spectral: fold it to plain Keras first (`dct_keras.fold(model)`, or "
                            "`dct-keras export MODEL --format dctk` to ship it as it is)." if spectral else ""))
    sizes = {layer.name: int(np.prod(layer.kernel.shape)) for layer in layers}
    reference = min(sizes.values())
    plans = []
    for layer in layers:
        size = sizes[layer.name]
        layer_rows, layer_rate = rows, compression_rate
        if strategy == "progressive-r":
            layer_rate = 1 + r0 * math.sqrt(size) / math.sqrt(reference)
        elif strategy == "progressive-g":
            layer_rows = max(rows, 2 ** math.floor(math.log2(math.sqrt(size) / math.sqrt(reference))))
        if size % layer_rows:
            raise ValueError(f"Invalid value for argument `rows`: {layer_rows} rows do not divide the {size} weights of "
                             f"layer {layer.name!r}; pick a divisor or list the layer in `skip`.")
        kept = max(1, int(size / layer_rows / layer_rate))
        if size / layer_rows / layer_rate < 1:
            warnings.warn(f"layer {layer.name!r}: r = {layer_rate:g} leaves less than one coefficient per row; one is "
                          f"kept (its effective r is {size / layer_rows:g}).", stacklevel=2)
        if layer_rows * kept + size // layer_rows > size:
            warnings.warn(f"layer {layer.name!r} grows: {layer_rows} x {kept} coefficients and a {size // layer_rows}-entry "
                          f"order vector store more than its {size} weights (lower g, or skip the layer).", stacklevel=2)
        plans.append(LayerPlan(layer.name, size, layer_rows, float(layer_rate), kept))
    return plans


def compress(model, rows=4, compression_rate=8, r0=None, strategy="uniform", distance="euclidean", skip=None, reorder=True,
             progress=True, workers=None):
    """Compresses a trained model by reorder-DCT; returns a new model.

    Args:
        model: a built Functional or Sequential Keras model.
        rows: g (the paper's "groups"), the rows every kernel is reshaped
            into; for "progressive-g" the base g: ``g_l = max(g, 2^floor(log2
            sqrt(p_l / p_ref)))``, the paper's eq. (4) at g = 2.
        compression_rate: r, the compression rate of "uniform" and "progressive-g"
            (t = int(p / g / r) coefficients kept per row).
        r0: the "progressive-r" hyperparameter.
        strategy: "uniform", "progressive-r" or "progressive-g".
        distance: "euclidean" (the paper's choice for small g) or "cosine"
            (its choice for g > 32) for Alg. 1.
        skip: layer names left uncompressed (default: the first Conv2D).
        reorder: False for the "no reordering" baseline.
        progress: print one line per layer (size, g, r, t, seconds).
        workers: threads ordering layers in parallel (default: the CPU count).

    Returns:
        The compressed model (a fresh copy; ``model`` is unchanged).
    """
    if distance not in DISTANCES:
        raise ValueError(f"Invalid value for argument `distance`: expected one of {DISTANCES}, received {distance!r}.")
    plans = {plan.name: plan for plan in plan_compression(model, rows, compression_rate, r0, strategy, skip)}
    family = FAMILIES["reorder_dct"]
    started = time.perf_counter()

    def replace(layer):
        plan = plans.get(layer.name)
        if plan is None:
            return None
        return family[type(layer)].from_config(family[type(layer)].config_from_plain(layer, rows=plan.rows, kept=plan.kept))

    pending = {}

    def copy(old, new):
        pending[new.name] = (old, new)

    compressed = replace_layers(model, replace, copy)
    rebuilt = time.perf_counter()
    done, spent = [0], {"ordering": 0.0, "DCT": 0.0}

    def run(name):
        old, new = pending[name]
        ordering, transform = new.set_compressed(keras.ops.convert_to_numpy(old.kernel), distance=distance,
                                                 reorder=reorder)
        if new.use_bias:
            new.bias.assign(keras.ops.convert_to_numpy(old.bias))  # a copy: JAX may donate the source buffer
        done[0] += 1
        spent["ordering"] += ordering
        spent["DCT"] += transform
        if progress:
            plan = plans[name]
            print(f"  [{done[0]}/{len(plans)}] {name}: {plan.size:,} weights, g={plan.rows}, r={plan.compression_rate:.3g}, "
                  f"t={plan.kept}, ordering {ordering:.1f} s + DCT {transform:.2f} s", file=sys.stderr, flush=True)

    # Largest layers first: the threads (the ordering releases the GIL) end together.
    names = sorted(pending, key=lambda n: -plans[n].size)
    with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        list(pool.map(run, names))
    if progress:
        print(f"  compressed {len(plans)} layers in {time.perf_counter() - started:.1f} s: model rebuilt in "
              f"{rebuilt - started:.1f} s, then ordering {spent['ordering']:.1f} s and DCT {spent['DCT']:.1f} s of "
              f"layer time in {workers or os.cpu_count() or 1} threads ({time.perf_counter() - rebuilt:.1f} s)",
              file=sys.stderr, flush=True)
    return compressed


L1_STRUCTURES = ("columns", "weights")


def l1_prune(model, rows=4, compression_rate=8, r0=None, strategy="uniform", skip=None, structure="columns"):
    """The l1-magnitude pruning baseline through the same reshape (the kernel
    as ``g`` rows of ``p / g``, paper order out, in, kh, kw), keeping as many
    weights as `compress` keeps coefficients (``g t`` per layer):

    * ``structure="columns"`` – the paper's Table 1: Alg. 2 in the standard
      basis, the ``p / g`` columns (elements of size g) ranked by their l1
      norm, the ``t`` largest kept whole; storage: the kept weights plus the
      ``t`` positions of the kept columns;
    * ``structure="weights"`` – ours: the ``t`` largest-magnitude weights of
      every row (unstructured; its index cost is not counted).

    Returns a plain model with the pruned weights at zero, and the plans
    (fine-tune it with `dct_keras.callbacks.KeepZeros` so they stay zero).
    """
    if structure not in L1_STRUCTURES:
        raise ValueError(f"Invalid value for argument `structure`: expected one of {L1_STRUCTURES}, received {structure!r}.")
    plans = {plan.name: plan for plan in plan_compression(model, rows, compression_rate, r0, strategy, skip)}
    pruned = keras.models.clone_model(model)
    pruned.set_weights(model.get_weights())
    for layer in walk_layers(pruned):
        plan = plans.get(layer.name)
        if plan is None:
            continue
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        axes = (3, 2, 0, 1) if kernel.ndim == 4 else (1, 0)
        matrix = np.transpose(kernel, axes).reshape(plan.rows, plan.columns)
        if structure == "columns":
            kept = np.argsort(-np.abs(matrix).sum(axis=0), kind="stable")[:plan.kept]
            keep = np.zeros(matrix.shape, bool)
            keep[:, kept] = True
        else:
            threshold = -np.sort(-np.abs(matrix), axis=1)[:, plan.kept - 1: plan.kept]
            keep = np.abs(matrix) >= threshold
        matrix = np.where(keep, matrix, 0.0).reshape(tuple(kernel.shape[a] for a in axes))
        layer.kernel.assign(np.transpose(matrix, np.argsort(axes)))
    return pruned, list(plans.values())


def nsse(original, approximation):
    """Eq. (4): ``|vec(w) - vec(w~)|^2 / |vec(w)|^2``."""
    original = np.asarray(original, dtype="float64")
    return float(((original - np.asarray(approximation, dtype="float64")) ** 2).sum() / (original ** 2).sum())


def layer_nsse(original, compressed):
    """nSSE of every compressed layer: layer name -> value."""
    old = {layer.name: layer for layer in walk_layers(original)}
    return {layer.name: nsse(keras.ops.convert_to_numpy(old[layer.name].kernel), keras.ops.convert_to_numpy(layer.kernel))
            for layer in walk_layers(compressed) if layer.name in old and hasattr(layer, "set_compressed")}


def compression_table(original, compressed):
    """Per compressed layer and in total: parameters before, parameters after
    (kept coefficients + order vector + bias, as the paper counts), trainable
    after (`dct_keras.accounting.count_params`), and nSSE. Returns a list of
    dicts (the last one is the model total: every weight of the model,
    compressed or not)."""
    errors = layer_nsse(original, compressed)
    before, after = count_params(original), count_params(compressed)
    layers = {layer.name: layer for layer in walk_layers(compressed) if layer.name in errors}
    rows = [{"layer": name, "params_before": before.layers[name].total, "params_after": after.layers[name].total,
             "trainable_after": after.layers[name].trainable, "rows": layer.rows, "kept": layer.kept, "nsse": errors[name]}
            for name, layer in layers.items()]
    old = {layer.name: layer for layer in walk_layers(original)}
    rows.append({"layer": "TOTAL", "params_before": before.total, "params_after": after.total,
                 "trainable_after": after.trainable, "rows": None, "kept": None,
                 "nsse": nsse(np.concatenate([keras.ops.convert_to_numpy(old[name].kernel).ravel() for name in layers]),
                              np.concatenate([keras.ops.convert_to_numpy(layer.kernel).ravel() for layer in layers.values()]))})
    return rows
