"""The one parameter and size accounting of every report.

`count_params(model)` walks a model once (`dct_keras.surgery.walk_layers`) and
counts, per leaf layer and in total:

* ``total`` – every stored weight (trainable or not: batch-norm statistics,
  reorder-DCT's order indices), mask bits excluded (bookkeeping, not
  parameters);
* ``trainable`` – trainable weights, switched-off coefficients included;
* ``active`` – trainable weights that are not switched off (kept);
* ``kernel`` / ``kernel_active`` – the same two for the kernel coefficients of
  the spectral layers alone (biases excluded), the unit of
  frequency_regularization.txt's tables ("kept kernel parameters").

`file_bytes(files)` itemizes the bytes of the files a method ships. A result
row carries both (`Runner`), so every method is measured the same way.
"""

import dataclasses
import os

import numpy as np

from dct_keras.surgery import is_spectral, walk_layers


@dataclasses.dataclass
class ParamCount:
    """Parameter counts of a layer or a model (see the module docstring)."""

    total: int = 0
    trainable: int = 0
    active: int = 0
    kernel: int = 0
    kernel_active: int = 0

    def __iadd__(self, other):
        for field in dataclasses.fields(ParamCount):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))
        return self

    def as_dict(self):
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(ParamCount)}


@dataclasses.dataclass
class ParamReport(ParamCount):
    """`ParamCount` of a model, with one `ParamCount` per leaf layer."""

    layers: dict = dataclasses.field(default_factory=dict)

    def format_table(self):
        """A plain-text table: one row per layer with weights, then the total."""
        width = max([len(n) for n in self.layers] + [5])
        lines = [f"{'layer':<{width}} {'total':>12} {'trainable':>12} {'active':>12} {'kernel kept':>22}"]
        rows = [(n, c) for n, c in self.layers.items() if c.total] + [("TOTAL", self)]
        for name, c in rows:
            kept = f"{c.kernel_active:,} / {c.kernel:,}" if c.kernel else "—"
            lines.append(f"{name:<{width}} {c.total:>12,} {c.trainable:>12,} {c.active:>12,} {kept:>22}")
        return "\n".join(lines)


def count_params(model):
    """Counts total, trainable, active and kernel parameters; returns a
    `ParamReport` (totals plus a ``layers`` dict of `ParamCount`s)."""
    report = ParamReport()
    for layer in walk_layers(model):
        spectral = layer.spectral_weights if is_spectral(layer) and layer.built else []
        uncounted = {id(v) for sw in spectral for v in sw.state_variables}  # masks and their bookkeeping
        uncounted |= {id(v) for v in (layer.transient_variables() if is_spectral(layer) else [])}
        count = ParamCount()
        for weight in layer.weights:
            if id(weight) in uncounted:
                continue
            size = int(np.prod(weight.shape, dtype=np.int64))
            count.total += size
            if weight.trainable and layer.trainable:
                count.trainable += size
        count.active = count.trainable
        if layer.trainable:
            count.active -= sum(sw.size - sw.active_count() for sw in spectral)
        kernel = getattr(layer, "spectral_kernel", None) if spectral else None
        if kernel is not None:
            count.kernel, count.kernel_active = kernel.size, kernel.active_count()
        report.layers[layer.name] = count
        report += count
    return report


def file_bytes(files):
    """``{part: path}`` -> ``{part: bytes, ..., "total": bytes}``."""
    sizes = {part: os.path.getsize(path) for part, path in files.items()}
    sizes["total"] = sum(sizes.values())
    return sizes
