"""Model surgery: `convert` Keras convolutions to DCT-Conv, `fold` them back,
and `count_params` (total / trainable / active)."""

import dataclasses

import keras
import numpy as np
from keras.src.models.functional import Functional

from dct_keras.layers.base import SpectralLayer
from dct_keras.layers.dct_conv import DCTConv2D
from dct_keras.layers.dct_conv_transpose import DCTConv2DTranspose
from dct_keras.spectral.masks import check_probability

# Plain Keras class -> DCT class. Exact types: DCT layers subclass the Keras ones.
_TO_DCT = {keras.layers.Conv2D: DCTConv2D, keras.layers.Conv2DTranspose: DCTConv2DTranspose}
_TO_KERAS = {dct: plain for plain, dct in _TO_DCT.items()}
_DCT_CONFIG_KEYS = ("switch_off", "switch_off_policy", "mask_seed", "pointwise", "pointwise_block")


def convert(model, switch_off=0.0, only_spatial=False, keep_weights=True, seed=None, switch_off_policy="random"):
    """Returns a copy of ``model`` with its convolutions replaced by DCT-Conv.

    Every `keras.layers.Conv2D` becomes a `DCTConv2D` and every
    `Conv2DTranspose` a `DCTConv2DTranspose` with the same configuration (1x1
    kernels use the 16-channel sub-row transform). The other layers are copied
    with their weights.

    Args:
        model: a Functional or Sequential Keras model.
        switch_off: switch-off probability ``p`` in [0, 1] of every new layer.
        only_spatial: if True, convert only kernels larger than 1x1 (the
            "only 3x3 filters" variant of dct_conv.txt, Problem 1).
        keep_weights: if True, the coefficients are the forward DCT of the
            existing kernels (then masked) and the biases are copied, so with
            ``switch_off=0`` the outputs are unchanged. If False, the converted
            layers are freshly initialized (coefficients with each layer's
            kernel initializer, as dct_conv.txt §V-G step 2 prescribes).
        seed: int or None; seeds the per-layer mask seeds (the same seed gives
            the same masks).
        switch_off_policy: "random" (the paper) or "tail" (the highest
            frequencies), see `DCTConv2D`.

    Returns:
        A new, built Keras model.
    """
    check_probability(switch_off, "switch_off")
    rng = np.random.default_rng(seed)

    def replace(layer):
        target = _TO_DCT.get(type(layer))
        if target is None or (only_spatial and all(k == 1 for k in layer.kernel_size)):
            return None
        config = layer.get_config()
        config.update(switch_off=switch_off, switch_off_policy=switch_off_policy, mask_seed=int(rng.integers(0, 2**31 - 1)))
        return target.from_config(config)

    def copy(old, new):
        if keep_weights:
            new.set_kernel(keras.ops.convert_to_numpy(old.kernel))
            if old.use_bias:
                new.bias.assign(old.bias)

    return _rebuild(model, replace, copy)


def fold(model):
    """Returns a plain-Keras copy of ``model`` with every DCT layer materialized.

    Each `DCTConv2D` / `DCTConv2DTranspose` becomes a `Conv2D` /
    `Conv2DTranspose` whose kernel is the DCT layer's ``kernel``; outputs are
    unchanged and the result loads without dct_keras installed.
    """

    def replace(layer):
        target = _TO_KERAS.get(type(layer))
        if target is None:
            return None
        config = {k: v for k, v in layer.get_config().items() if k not in _DCT_CONFIG_KEYS}
        return target.from_config(config)

    def copy(old, new):
        new.set_weights([keras.ops.convert_to_numpy(old.kernel)] + ([old.bias.numpy()] if old.use_bias else []))

    return _rebuild(model, replace, copy)


def _rebuild(model, replace, copy):
    """Clones ``model``, letting ``replace(layer)`` swap layers (None keeps the
    layer's class) and ``copy(old, new)`` set the swapped layers' weights."""
    if not isinstance(model, (keras.Sequential, Functional)):
        raise ValueError(
            "Expected a Functional or Sequential Keras model; subclassed models "
            f"cannot be rebuilt layer by layer. Received {type(model).__name__}."
        )
    replaced = {}

    def clone(layer):
        new = replace(layer)
        if new is None:
            return layer.__class__.from_config(layer.get_config())
        replaced[new.name] = layer
        return new

    new_model = keras.models.clone_model(model, clone_function=clone, recursive=True)
    old_layers = {layer.name: layer for layer in walk_layers(model)}
    for new in walk_layers(new_model):
        old = old_layers[new.name]
        if new.name in replaced:
            copy(old, new)
        else:
            new.set_weights(old.get_weights())
    return new_model


def walk_layers(model):
    """Every leaf layer of ``model``, depth first: nested models and other
    layer containers are descended into, a spectral layer is one leaf (its
    internal sublayers, e.g. a harmonic block's normalization, are its own).
    """
    for layer in _children(model):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if _is_spectral(layer) or not _children(layer):
            yield layer
        else:
            yield from walk_layers(layer)


def spectral_layers(model):
    """The spectral layers of ``model`` (DCT-Conv, FreqReg, Harmonic, ...) in
    depth-first order, nested models and layer containers included."""
    return [layer for layer in walk_layers(model) if _is_spectral(layer)]


def spectral_weights(model):
    """Every `SpectralWeight` of the built spectral layers of ``model``."""
    return [weight for layer in spectral_layers(model) if layer.built for weight in layer.spectral_weights]


def _is_spectral(layer):
    return isinstance(layer, SpectralLayer)


def _children(layer):
    """Direct sublayers. A Model lists them in ``layers``; other containers
    (a layer holding layers as attributes) are reached through Keras's layer
    tracking, which has no public accessor in Keras 3 (``_flatten_layers`` is
    the one that descends attributes, lists and dicts)."""
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    return list(layer._flatten_layers(include_self=False, recursive=False))


@dataclasses.dataclass
class ParamCount:
    """Parameter counts of a model or layer.

    Attributes:
        total: all weights (trainable and non-trainable, e.g. batch-norm
            statistics), excluding mask state.
        trainable: trainable weights, switched-off coefficients included.
        active: trainable weights that are not switched off.
    """

    total: int = 0
    trainable: int = 0
    active: int = 0

    def __iadd__(self, other):
        self.total += other.total
        self.trainable += other.trainable
        self.active += other.active
        return self


@dataclasses.dataclass
class ParamReport(ParamCount):
    """`ParamCount` of a model, with one `ParamCount` per leaf layer."""

    layers: dict = dataclasses.field(default_factory=dict)

    def format_table(self):
        """A plain-text table: one row per layer with weights, then the total."""
        width = max([len(n) for n in self.layers] + [5])
        lines = [f"{'layer':<{width}} {'total':>12} {'trainable':>12} {'active':>12}"]
        rows = [(n, c) for n, c in self.layers.items() if c.total] + [("TOTAL", self)]
        for name, c in rows:
            lines.append(f"{name:<{width}} {c.total:>12,} {c.trainable:>12,} {c.active:>12,}")
        return "\n".join(lines)


def count_params(model):
    """Counts total, trainable and active (not switched-off) parameters.

    Mask state (the packed bits of each `SpectralWeight`) is not counted: it is
    bookkeeping, not a parameter. Returns a `ParamReport` (overall counts plus
    a ``layers`` dict of per-layer `ParamCount`s).
    """
    report = ParamReport()
    for layer in walk_layers(model):
        spectral = layer.spectral_weights if _is_spectral(layer) and layer.built else []
        masks = {id(v) for sw in spectral for v in sw.state_variables}
        count = ParamCount()
        for weight in layer.weights:
            if id(weight) in masks:
                continue
            size = int(np.prod(weight.shape, dtype=np.int64))
            count.total += size
            if weight.trainable and layer.trainable:
                count.trainable += size
        count.active = count.trainable
        if layer.trainable:
            count.active -= sum(sw.size - sw.active_count() for sw in spectral)
        report.layers[layer.name] = count
        report += count
    return report
