"""Compressed export of spectral models: only the kept coefficients.

`save_compressed` writes an ``.npz`` holding, for every spectral weight, its
shape, its kept count and the kept coefficient values (float16 or float32);
when the mask is the zigzag tail of that count (FreqReg, tail-dropout) the mask
follows from the count and is not stored, otherwise (DCT-Conv's random
switch-off) it is stored packed, one bit per coefficient. Other weights (batch
norm, plain layers) are stored whole in float32. `load_compressed` restores all
of it into an identically built model. Its kept counts are
`dct_keras.accounting.count_params`'s ``kernel_active``.
"""

import json
import zipfile

import numpy as np
from keras import ops

from dct_keras.files import describe_npz_error
from dct_keras.surgery import spectral_layers, walk_layers
from dct_keras.spectral.masks import pack_mask

FORMAT = "dct_keras.compressed/1"


def _spectral_entries(model):
    """(key, layer, SpectralWeight) for every spectral weight of the model.

    Keys name the layer class, weight and shape, not the layer (auto-generated
    layer names differ between two identically built models)."""
    for layer in spectral_layers(model):
        for weight in layer.spectral_weights if layer.built else []:
            yield f"{type(layer).__name__}/{weight.coefficients.name}{list(weight.shape)}", layer, weight


def _plain_weights(model):
    """(key, variable) for every non-spectral weight, mask state excluded."""
    spectral_ids = {id(layer) for layer in spectral_layers(model)}
    for layer in walk_layers(model):
        spectral = layer.spectral_weights if id(layer) in spectral_ids and layer.built else []
        owned = {id(v) for w in spectral for v in (w.coefficients, *w.state_variables)}
        for variable in layer.weights:
            if id(variable) not in owned:
                yield f"{type(layer).__name__}/{variable.name}{list(variable.shape)}", variable


def save_compressed(model, path, dtype="float16"):
    """Saves only the kept coefficients of ``model`` (and its other weights).

    Args:
        model: a built Keras model with spectral layers.
        path: output ``.npz`` file.
        dtype: "float16" (the paper's export) or "float32" for the kept values.
    """
    if dtype not in ("float16", "float32"):
        raise ValueError(f"Invalid value for argument `dtype`: expected 'float16' or 'float32', received {dtype!r}.")
    arrays, index = {}, {"format": FORMAT, "dtype": dtype, "spectral": [], "plain": []}
    for number, (key, _, weight) in enumerate(_spectral_entries(model)):
        mask = weight.mask_numpy()
        kept = int(mask.sum())
        zigzag = bool(np.array_equal(mask, weight.zigzag_mask(kept)))
        arrays[f"s{number}_values"] = ops.convert_to_numpy(weight.coefficients)[mask].astype(dtype)
        if not zigzag:
            arrays[f"s{number}_bits"] = pack_mask(mask)
        index["spectral"].append(
            {"key": key, "shape": list(weight.shape), "kept": kept, "zigzag": zigzag,
             "kept_fraction": float(weight.kept_fraction)}
        )
    for number, (key, variable) in enumerate(_plain_weights(model)):
        arrays[f"p{number}"] = ops.convert_to_numpy(variable)
        index["plain"].append({"key": key, "shape": list(variable.shape)})
    arrays["index"] = np.frombuffer(json.dumps(index).encode(), dtype=np.uint8)
    np.savez_compressed(path, **arrays)


def load_compressed(model, path):
    """Loads a `save_compressed` file into an identically built ``model``."""
    try:
        data = np.load(path, allow_pickle=False)
    except (EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable dct_keras compressed model ({describe_npz_error(error, path)}).") from None
    with data:
        try:
            index = json.loads(bytes(data["index"]).decode()) if "index" in data.files else {}
        except (ValueError, UnicodeDecodeError):
            index = {}
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise ValueError(f"{path} is not a dct_keras compressed model (it was not written by save_compressed: "
                             f"format {index.get('format') if isinstance(index, dict) else None!r}, expected {FORMAT!r}).")
        entries = list(_spectral_entries(model))
        plain = list(_plain_weights(model))
        expected = ([k for k, _, _ in entries], [k for k, _ in plain])
        stored = ([e["key"] for e in index["spectral"]], [e["key"] for e in index["plain"]])
        if expected != stored:
            raise ValueError(f"{path} was saved from a different architecture: weights {stored} vs model {expected}.")
        for number, ((_, _, weight), entry) in enumerate(zip(entries, index["spectral"])):
            if tuple(entry["shape"]) != weight.shape:
                raise ValueError(f"{entry['key']}: stored shape {entry['shape']} != model shape {weight.shape}.")
            if entry["zigzag"]:
                mask = weight.zigzag_mask(entry["kept"])
            else:
                mask = np.unpackbits(data[f"s{number}_bits"], count=weight.size, bitorder="little").astype(bool)
                mask = mask.reshape(weight.shape)
            coefficients = np.zeros(weight.shape, dtype="float32")
            coefficients[mask] = data[f"s{number}_values"].astype("float32")
            weight.set_mask(mask, kept_fraction=entry["kept_fraction"])
            weight.coefficients.assign(coefficients)
        for number, (_, variable) in enumerate(plain):
            variable.assign(data[f"p{number}"])
