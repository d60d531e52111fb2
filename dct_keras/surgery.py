"""Model surgery, one walker for every spectral method.

* `walk_layers` / `spectral_layers` / `spectral_weights`: the layers (and
  `SpectralWeight`s) of a model, nested models and layer containers included;
* `convert(model, to=family)`: plain Keras layers -> a spectral family
  ("dct", "freqreg", "harmonic", or any family a layer registers with
  `dct_keras.layers.base.register_family`);
* `fold(model)`: every spectral layer -> the plain Keras layer it stands for,
  identical outputs, loadable without dct_keras;
* `is_spectral`: whether a layer is one of the spectral families.

Parameters and bytes are counted by `dct_keras.accounting`.
"""

import keras
import numpy as np
# Keras 3 exports no public name for a graph (functional) model; `clone_model`
# can rebuild layer by layer only those and Sequential ones, so that is the check.

# Importing the layers registers their families.
import dct_keras.layers  # noqa: F401
from dct_keras import recipes
from dct_keras.framework import child_layers, is_functional
from dct_keras.layers.base import FAMILIES, FamilyLayer
from dct_keras.spectral.masks import check_probability


def convert(model, to="dct", only_spatial=False, keep_weights=True, seed=None, dense=None, **options):
    """Returns a copy of ``model`` with its plain layers replaced by a spectral family.

    Every layer whose exact class the family has a version of is replaced (DCT-Conv:
    `Conv2D` -> `DCTConv2D`, `Conv2DTranspose` -> `DCTConv2DTranspose` and,
    with ``dense=True``, `Dense` -> `DCTDense`; FreqReg: those and `Dense`;
    harmonic: square, undilated, ungrouped `Conv2D` -> `HarmonicConv`); the
    other layers are copied with their weights.

    Args:
        model: a Functional or Sequential Keras model.
        to: the family: "dct" (dct_conv.txt), "freqreg"
            (frequency_regularization.txt), "harmonic" (harmonic_networks.txt),
            "reorder_dct" (reorder_dct_compression.txt) or "rd"
            (rate–distortion training, `dct_keras.layers.RDConv2D`).
        only_spatial: if True, leave 1x1 kernels plain (the "only 3x3 filters"
            variant of dct_conv.txt, Problem 1) and dense layers too.
        keep_weights: if True, the new layers express the old weights (the
            forward DCT of the kernels, masked; the harmonic combination
            weights of each kernel), so with nothing switched off the outputs
            are unchanged. If False they are freshly initialized (dct_conv.txt
            §V-G step 2).
        seed: int or None; seeds the per-layer seeds (DCT-Conv's masks,
            rate–distortion layers' training noise).
        dense: whether `Dense` layers are converted; None: the family's
            default (FreqReg yes; DCT no, dct_conv.txt codes filters only;
            CTNet's channel-form FC is ``to="dct", dense=True``).
        **options: the family's layer arguments, e.g. ``switch_off`` and
            ``switch_off_policy`` (dct), ``kept_fraction`` (freqreg),
            ``levels`` / ``normalization`` / ``batch_norm`` (harmonic),
            ``rate_weight`` (rd).

    Returns:
        A new, built Keras model.
    """
    if to not in FAMILIES:
        raise ValueError(f"Invalid value for argument `to`: expected one of {sorted(FAMILIES)}, received {to!r}.")
    targets = FAMILIES[to]
    if "switch_off" in options:
        check_probability(options["switch_off"], "switch_off")
    rng = np.random.default_rng(seed)

    def replace(layer):
        target = targets.get(type(layer))
        if target is None or (only_spatial and all(k == 1 for k in getattr(layer, "kernel_size", (1,)))):
            return None
        if isinstance(layer, keras.layers.Dense) and not (target.convert_by_default if dense is None else dense):
            return None
        config = target.config_from_plain(layer, rng=rng, **options)
        return None if config is None else target.from_config(config)  # None: the family cannot express it

    def copy(old, new):
        if keep_weights:
            new.set_from_plain(old)

    conversion = {"to": to, "only_spatial": only_spatial, "seed": seed, "dense": dense, "options": options}
    return recipes.record(replace_layers(model, replace, copy), recipes.converted(model, conversion))


def fold(model):
    """Returns a plain-Keras copy of ``model`` with every spectral layer materialized.

    Each spectral layer becomes the Keras layer it stands for (its
    `plain_class`), with its materialized kernel and bias: DCT-Conv and
    FreqReg layers their ``IDCT(coefficients * mask)``, harmonic blocks their
    merged kernel (batch normalization, if any, folded in with its running
    statistics: the inference-mode function). Outputs are unchanged (inference
    mode) and the result loads without dct_keras installed.
    """

    def replace(layer):
        if not is_spectral(layer):
            return None
        return layer.plain_class().from_config(layer.plain_config())

    def copy(old, new):
        new.set_weights(old.plain_weights())

    return replace_layers(model, replace, copy)


def replace_layers(model, replace, copy):
    """Clones ``model``, letting ``replace(layer)`` swap layers (None keeps the
    layer's class) and ``copy(old, new)`` set the swapped layers' weights."""
    if not (isinstance(model, keras.Sequential) or is_functional(model)):
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
        if is_spectral(layer) or not _children(layer):
            yield layer
        else:
            yield from walk_layers(layer)


def spectral_layers(model):
    """The spectral layers of ``model`` (DCT-Conv, FreqReg, Harmonic, ...) in
    depth-first order, nested models and layer containers included."""
    return [layer for layer in walk_layers(model) if is_spectral(layer)]


def spectral_weights(model):
    """Every `SpectralWeight` of the built spectral layers of ``model``."""
    return [weight for layer in spectral_layers(model) if layer.built for weight in layer.spectral_weights]


def is_spectral(layer):
    return isinstance(layer, FamilyLayer)


def _children(layer):
    """Direct sublayers: a Model's ``layers``, or what another container
    tracks (`dct_keras.framework.child_layers`)."""
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    return child_layers(layer)
