"""One shipping format for every model: kept coefficients, quantized,
entropy-coded, in one file with its manifest and probe.

`save_shipped(model, path, bits=8)` writes a ``.dctk`` file (layout and
codecs: `dct_keras.decode`, which reads it with NumPy only):

* spectral weights (DCT-Conv, FreqReg, CTNet, Harmonic's trained parts are
  plain) store only their kept coefficients; the mask as a kept count when it
  is the zigzag tail of that count (FreqReg's tail-dropout), as one bit per
  coefficient otherwise (DCT-Conv's random switch-off), nothing when nothing
  is off;
* reorder-DCT layers store their (rows, kept) coefficients and their order
  indices (the smallest unsigned integer type that holds them);
* rate–distortion layers store their integer codes, coded with tables made
  from their own trained probability models (`dct_keras.entropy.logistic_table`,
  ``CODED_PRECISION``), and per group a float16 step and the prior's scale
  and zero logit in a byte each, whatever ``bits`` says: their bytes are
  what their rate predicts, less where whole slices of a kernel's or dense
  matrix's last two axes are zero (the file then marks the slices that hold
  a non-zero code, a bit each, and codes only the codes inside them, with
  the spike's mass conditioned on the removed zeros, where that is smaller);
* every other weight (plain layers, batch normalization) is stored too; a
  plain kernel that is more than half zeros (magnitude pruning) as its
  non-zeros under a bit mask;
* ``bits`` chooses the codec of every tensor of two or more axes: 32
  (float32, exact), 16 (float16) or 2-16 (int<b>, one scale per slice of the
  last axis, of the first for reorder-DCT's rows); tensors of one axis (biases, normalization statistics) are
  float16 below 32 bits, float32 at 32;
* the manifest and the weights are each compressed by LZMA (the general-purpose
  coder), except the integer codes of a tensor for which a rANS stream with a
  table of the tensor's own histogram (`dct_keras.entropy`) is smaller than
  LZMA would make them: chosen per tensor and recorded in its entry
  (``"coder": "rans"``); CTNet's H.265 codec is `dct_keras.export.h265`.

The architecture is the model's recipe where it has one that rebuilds it
(`dct_keras.recipes`: a builder and conversions, a few hundred bytes), its
Keras JSON otherwise. The probe stored in the manifest is the first
``PROBE_VALUES`` outputs of the model *decoded from the file's own bytes*
(to 7 significant digits), so every lossy setting loads, and `load_shipped`
refuses a file whose decoded model gives other outputs. `load_shipped` returns the
spectral model, or with ``fold=True`` the plain Keras model it stands for.
"""

import json
import os
import struct
import tempfile

import keras
import numpy as np

from dct_keras import entropy, recipes
from dct_keras.accounting import count_params
from dct_keras.decode import FORMAT, MAGIC, ShippedFormatError, compress, digest, group_index, group_numbers, read_shipped
from dct_keras.files import write_atomically
from dct_keras.layers.base import FAMILIES
from dct_keras.models import rebuild
from dct_keras.spectral.coded import EMPTY_STEP, CodedWeight
from dct_keras.surgery import fold as fold_model
from dct_keras.surgery import spectral_layers, walk_layers

PROBE_SEED = 1234
PROBE_VALUES = 8


def codec_of(bits, ndim):
    """The codec a tensor of ``ndim`` axes gets at ``bits``."""
    if bits == 32:
        return "float32"
    if bits == 16 or ndim < 2:
        return "float16"
    return f"int{bits}"


def integer_codes(values, codec, groups, group_count):
    """``(scales, codes)`` of float values under an ``int<b>`` codec: one
    float32 scale per group (``groups``: each value's group index),
    ``max|v| / (2^(b-1) - 1)``, and the codes ``round(v / scale)``."""
    bits = int(codec[3:])
    top = 2 ** (bits - 1) - 1
    groups = np.asarray(groups).ravel()
    flat = np.asarray(values, dtype="float32").ravel()
    magnitude = np.zeros(group_count, dtype="float32")
    np.maximum.at(magnitude, groups, np.abs(flat))
    scales = (magnitude / top).astype("float32")
    codes = np.round(flat / np.where(scales > 0, scales, 1.0)[groups]).astype(np.int8 if bits <= 8 else np.int16)
    return scales, codes


def encode_values(values, codec, groups=None, group_count=None):
    """``(stored bytes, group count, coder fields, stream)`` of float values
    (see `dct_keras.decode`): raw floats; or float32 scales then the integer
    codes, which go either with the stored bytes (to LZMA) or, where that is
    smaller for this tensor, to a rANS stream matched to their histogram
    (``coder fields``: ``{"coder": "rans", "table": ..., "stream_bytes":
    ...}``)."""
    if codec in ("float32", "float16"):
        return np.asarray(values, dtype="float32").astype(codec).tobytes(), None, {}, b""
    scales, codes = integer_codes(values, codec, groups, group_count)
    fields, stream = entropy_coded(codes)
    if stream is not None and len(stream) + TABLE_BYTES_PER_SYMBOL * len(fields["table"]["frequencies"]) < len(
            compress(codes.tobytes())):
        return scales.astype("<f4").tobytes(), group_count, {**fields, "stream_bytes": len(stream)}, stream
    return scales.astype("<f4").tobytes() + codes.tobytes(), group_count, {}, b""


ENTROPY_PRECISION = 14
# What one frequency of a table costs in the manifest (JSON, compressed with the rest), for the choice of
# coder: measured on the LeNet-5 frontier's files, 2 bytes chose better than the table's JSON compressed alone.
TABLE_BYTES_PER_SYMBOL = 2


def entropy_coded(codes):
    """``({"coder": "rans", "table": {...}}, stream)`` of integer codes with
    a table of their own histogram (`dct_keras.entropy`), or ``({}, None)``
    when there is nothing to gain (no codes, one value, too many values)."""
    codes = np.asarray(codes).ravel().astype(np.int64)
    if not codes.size:
        return {}, None
    low, high = int(codes.min()), int(codes.max())
    if low == high or high - low + 1 > 1 << ENTROPY_PRECISION:
        return {}, None
    frequencies = entropy.frequency_table(np.bincount(codes - low), ENTROPY_PRECISION)
    table = {"low": low, "precision": ENTROPY_PRECISION, "frequencies": frequencies.tolist()}
    return {"coder": "rans", "table": table}, entropy.encode(codes - low, frequencies, ENTROPY_PRECISION)


# The precision of a coded weight's tables: at 2^-16 the most likely code (zero, for most coefficients of a
# compressed network) costs little more than its probability says (a table of 12 bits would add up to
# 20 / 4096 of a bit per coefficient for a table of 20 codes).
CODED_PRECISION = 16


def _spectral_by_variable(model):
    """Coefficient variable id -> SpectralWeight or CodedWeight; ids of the
    variables stored within those entries or not at all (mask bookkeeping,
    coded weights' steps and priors, rate warm-up factors, transient
    variables)."""
    layers = [layer for layer in spectral_layers(model) if layer.built]
    weights = [w for layer in layers for w in layer.spectral_weights]
    coded = [w for layer in layers for w in getattr(layer, "coded_weights", [])]
    stored = {id(v) for w in weights for v in w.state_variables}
    stored |= {id(v) for w in coded for v in w.prior_variables}
    stored |= {id(layer.coding.warmup) for layer in layers if layer.family == "rd"}
    stored |= {id(v) for layer in layers for v in layer.transient_variables()}
    return {id(w.coefficients): w for w in weights + coded}, stored


def _coded_entry_and_bytes(variable, weight):
    """A coded weight's entry, stored bytes (float16 steps, the priors' scales
    and zero logits in a byte each (`entropy.pack_priors`), int32 escaped
    codes, the bitmaps of the slices it codes) and rANS stream of its codes:
    of all of them, or (``"slices"``) of those inside the slices of its last
    two axes that hold a non-zero code, whichever the priors price lower."""
    codes = weight.codes()
    steps = _storable_steps(variable, weight.steps(), codes, weight.group_shape)
    scale_bytes, logit_bytes = entropy.pack_priors(weight.scales(), weight.zero_logits())
    scales, logits = entropy.unpack_priors(scale_bytes, logit_bytes)
    whole = _priced(codes, weight.group_shape, scales, logits)
    (symbols, escaped, numbers, frequencies, _), axes, bitmaps = whole, [], b""
    if codes.ndim >= 2:
        index, sliced_axes, sliced_bitmaps = [np.arange(n) for n in codes.shape], [codes.ndim - 2, codes.ndim - 1], b""
        for axis in sliced_axes:
            active = np.any(codes != 0, axis=tuple(a for a in range(codes.ndim) if a != axis))
            index[axis] = np.flatnonzero(active)
            sliced_bitmaps += np.packbits(active, bitorder="little").tobytes()
        inside = codes[np.ix_(*index)]
        conditional = entropy.conditional_zero_logits(logits, codes.size / max(inside.size, 1))
        sliced = _priced(inside, weight.group_shape, scales, conditional)
        if sliced[-1] + 8 * len(sliced_bitmaps) < whole[-1]:
            (symbols, escaped, numbers, frequencies, _), axes, bitmaps = sliced, sliced_axes, sliced_bitmaps
    stream = entropy.encode(symbols, frequencies, CODED_PRECISION, tables=numbers)
    data = steps.tobytes() + scale_bytes.tobytes() + logit_bytes.tobytes() + escaped.astype("<i4").tobytes() + bitmaps
    entry = {"path": variable.path, "name": variable.name, "storage": "coded", "shape": list(weight.shape),
             "group_shape": list(weight.group_shape), "priors": "u8", "precision": CODED_PRECISION, "escapes": len(escaped),
             "coder": "rans", "stream_bytes": len(stream), "bytes": len(data)}
    if axes:
        entry["slices"] = axes
    return entry, data, stream


def _storable_steps(variable, steps, codes, group_shape):
    """The steps as float16; a group without a non-zero code decodes to
    zeros whatever its step, so one float16 cannot store is stored as
    `EMPTY_STEP`. Raises ValueError for a group with codes whose step float16
    cannot store (zero, infinite or not a number)."""
    holds_codes = np.bincount(group_numbers(codes.shape, group_shape).ravel(), weights=(codes != 0).ravel(),
                              minlength=steps.size).reshape(steps.shape) > 0
    stored = steps.astype("<f2")
    storable = np.isfinite(stored) & (stored > 0)
    if not np.all(storable | ~holds_codes):
        bad = steps[~storable & holds_codes]
        raise ValueError(f"{variable.path}: a quantization step ({bad.min():.3g} to {bad.max():.3g}) of a group with "
                         "non-zero codes is outside what the file stores (float16, positive): the training collapsed or "
                         "blew up a step.")
    return np.where(storable, stored, np.float16(EMPTY_STEP)).astype("<f2")


def _priced(codes, group_shape, scales, logits):
    """``(symbols, escaped values, table numbers, tables, bits)`` of codes
    under the tables of their groups' priors; bits: their information content
    plus 32 per escaped value."""
    numbers = group_numbers(codes.shape, group_shape).ravel()
    radii, frequencies = entropy.logistic_tables(scales, CODED_PRECISION, logits)
    symbols, escaped = entropy.escape(codes.ravel(), radii[numbers])
    bits = float(np.sum(CODED_PRECISION - np.log2(frequencies[numbers, symbols].astype(np.float64)))) + 32 * len(escaped)
    return symbols, escaped, numbers, frequencies, bits


def _group_axis(layer, variable):
    """The axis along which a tensor gets one scale: reorder-DCT's rows (its
    coefficients are (rows, kept)), otherwise the last axis."""
    reorder = tuple(FAMILIES["reorder_dct"].values())
    return 0 if isinstance(layer, reorder) and variable is layer.coefficients else -1


def _entry_and_bytes(variable, spectral, bits, axis=-1):
    path, value = variable.path, keras.ops.convert_to_numpy(variable)
    shape = list(value.shape)
    axis = axis % max(1, value.ndim)
    named = {"path": path, "name": variable.name, "group_axis": axis}
    if spectral is not None:
        mask = spectral.mask_numpy()
        kept = int(mask.sum())
        entry = {**named, "storage": "spectral", "shape": shape, "kept": kept,
                 "kept_fraction": float(keras.ops.convert_to_numpy(spectral.kept_fraction))}
        if mask.all():
            entry["mask"], mask_bytes = "all", b""
        elif np.array_equal(mask, spectral.zigzag_mask(kept)):
            transform = spectral.transform
            entry["mask"], mask_bytes = "tail", b""
            entry["levels"] = {"axes": list(transform.axes), "blocks": {str(a): b for a, b in transform.block_sizes.items()}}
        else:
            entry["mask"], mask_bytes = "bits", np.packbits(mask.ravel(), bitorder="little").tobytes()
        entry["codec"] = codec_of(bits, value.ndim)
        groups = group_index(value.shape, axis)[mask] if entry["codec"].startswith("int") else None
        coded, entry["groups"], coder, stream = encode_values(value[mask], entry["codec"], groups, shape[axis])
        entry.update(coder)
        entry["mask_bytes"] = len(mask_bytes)
        data = mask_bytes + coded
    elif np.issubdtype(value.dtype, np.integer):
        low, high = int(value.min(initial=0)), int(value.max(initial=0))
        if low < 0:
            raise ValueError(f"{path}: negative integers are not a shippable weight.")
        dtype = next(t for t in ("uint8", "uint16", "uint32", "uint64") if high <= np.iinfo(t).max)
        entry = {**named, "storage": "integer", "shape": shape, "dtype": dtype, "target_dtype": str(value.dtype)}
        data, stream = value.astype(dtype).tobytes(), b""
    elif value.ndim >= 2 and np.mean(value == 0) > 0.5:  # a pruned plain kernel: its non-zeros under a bit mask
        mask = value != 0
        entry = {**named, "storage": "sparse", "shape": shape, "kept": int(mask.sum()), "mask": "bits",
                 "codec": codec_of(bits, value.ndim)}
        mask_bytes = np.packbits(mask.ravel(), bitorder="little").tobytes()
        groups = group_index(value.shape, axis)[mask] if entry["codec"].startswith("int") else None
        coded, entry["groups"], coder, stream = encode_values(value[mask], entry["codec"], groups, shape[axis])
        entry.update(coder)
        entry["mask_bytes"] = len(mask_bytes)
        data = mask_bytes + coded
    else:
        entry = {**named, "storage": "dense", "shape": shape, "codec": codec_of(bits, value.ndim)}
        groups = group_index(value.shape, axis) if entry["codec"].startswith("int") else None
        data, entry["groups"], coder, stream = encode_values(value, entry["codec"], groups, shape[axis] if shape else 1)
        entry.update(coder)
    entry["bytes"] = len(data)
    return entry, data, stream


def probe_input(model, seed=PROBE_SEED):
    """The probe's input: two seeded standard-normal examples."""
    shape = tuple(d or 1 for d in model.inputs[0].shape[1:])
    return np.random.default_rng(seed).standard_normal((2,) + shape).astype("float32")


def probe_outputs(model, seed=PROBE_SEED, count=PROBE_VALUES):
    """The first ``count`` outputs of the model on `probe_input` (files
    written before the probe was cut to `PROBE_VALUES` hold more)."""
    return keras.ops.convert_to_numpy(model(probe_input(model, seed), training=False)).ravel()[:count]


def architecture_of(model):
    """The manifest's architecture: ``{"recipe": ...}`` when the model's
    recipe rebuilds it (its weights give the same outputs in the rebuilt
    model), else the model's Keras JSON."""
    recipe = recipes.recipe_of(model)
    if recipe is not None:
        try:
            rebuilt = rebuild(recipe)
            rebuilt.set_weights(model.get_weights())
            same = np.array_equal(probe_outputs(rebuilt), probe_outputs(model))
        except Exception:  # noqa: BLE001 - any failure to rebuild means: ship the JSON
            same = False
        if same:
            return {"recipe": recipe}
    return json.loads(model.to_json())


def model_of(architecture):
    """The (freshly initialized) model of a manifest's architecture."""
    if "recipe" in architecture:
        return rebuild(architecture["recipe"])
    return keras.models.model_from_json(json.dumps(architecture))


def save_shipped(model, path, bits=8):
    """Writes ``model`` as one shipped file; returns its size report.

    Args:
        model: a built Functional or Sequential model (spectral or plain).
        path: the ``.dctk`` file to write (its folder is created).
        bits: 32 (exact), 16, or 2-16 (integer quantization).

    Returns:
        ``{"bytes": {"framing", "header", "payload", "total"}, "layers":
        {layer name: stored bytes before the coder}, "float32": the model's
        parameters as float32, "ratio": float32 / total, "bits": bits}``.
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not (bits in (16, 32) or 2 <= bits <= 16):
        raise ValueError(f"Invalid value for argument `bits`: expected 32, 16 or an integer in [2, 16], received {bits!r}.")
    spectral, bookkeeping = _spectral_by_variable(model)
    owner = {id(v): layer for layer in walk_layers(model) for v in layer.weights}
    entries, chunks, streams, layers = [], [], [], {}
    for variable in model.weights:
        if id(variable) in bookkeeping:
            continue
        layer = owner.get(id(variable))
        axis = _group_axis(layer, variable) if layer is not None else -1
        weight = spectral.get(id(variable))
        if isinstance(weight, CodedWeight):
            entry, data, stream = _coded_entry_and_bytes(variable, weight)
        else:
            entry, data, stream = _entry_and_bytes(variable, weight, bits, axis)
        entries.append(entry)
        chunks.append(data)
        streams.append(stream)
        name = layer.name if layer is not None else variable.path
        layers[name] = layers.get(name, 0) + len(data) + len(stream)
    stored = compress(b"".join(chunks))
    payload = struct.pack("<I", len(stored)) + stored + b"".join(streams)
    manifest = {"format": FORMAT, "bits": bits, "architecture": architecture_of(model), "weights": entries,
                "payload": {"length": len(payload), "sha256": digest(payload).hex()}}
    _write(path, manifest, payload)
    decoded = load_shipped(path, check_probe=False)  # the probe: what the file's own bytes give
    manifest["probe"] = {"seed": PROBE_SEED, "outputs": [float(f"{value:.7g}") for value in probe_outputs(decoded)]}
    _write(path, manifest, payload)
    header = os.path.getsize(path) - len(payload) - len(MAGIC) - 4 - 16
    float32 = 4 * count_params(model).total
    total = os.path.getsize(path)
    coders = {"rans": sum(e.get("coder") == "rans" for e in entries)}
    coders["lzma"] = len(entries) - coders["rans"]
    return {"bytes": {"framing": len(MAGIC) + 4 + 16, "header": header, "payload": len(payload), "total": total},
            "layers": layers, "float32": float32, "ratio": float32 / total, "bits": bits, "coders": coders}


def _write(path, manifest, payload):
    header = compress(json.dumps(manifest, separators=(",", ":")).encode("utf-8"))
    write_atomically(path, MAGIC + struct.pack("<I", len(header)) + header + payload + digest(header))


def load_shipped(path, fold=False, check_probe=True):
    """The Keras model of a shipped file (its spectral layers, or with
    ``fold`` the plain model); raises `ShippedFormatError` when the file does
    not check out or the decoded model misses its probe."""
    shipped = read_shipped(path)
    manifest = shipped.manifest
    try:
        model = model_of(manifest["architecture"])
    except Exception as error:  # noqa: BLE001 - Keras raises many kinds for a config it cannot build
        raise ShippedFormatError(f"{path}: the architecture does not build ({type(error).__name__}: {error}).") from None
    spectral, bookkeeping = _spectral_by_variable(model)
    variables = [v for v in model.weights if id(v) not in bookkeeping]
    # Variables in model order (their paths depend on the scope a model is built in).
    if [(v.name, list(v.shape)) for v in variables] != [(e["name"], e["shape"]) for e in manifest["weights"]]:
        raise ShippedFormatError(f"{path}: the weights do not match the architecture's.")
    for variable, entry in zip(variables, manifest["weights"]):
        value = shipped.weights[entry["path"]]
        if tuple(value.shape) != tuple(variable.shape):
            raise ShippedFormatError(f"{path}: {entry['path']} has shape {value.shape}, the architecture {tuple(variable.shape)}.")
        weight = spectral.get(id(variable))
        if entry["storage"] == "coded":
            weight.assign_codes(*shipped.coded[entry["path"]])
            continue
        variable.assign(value)
        if weight is not None:
            weight.set_mask(shipped.masks[entry["path"]], kept_fraction=entry["kept_fraction"])
    if check_probe:
        probe = manifest.get("probe")
        if not isinstance(probe, dict) or "outputs" not in probe:
            raise ShippedFormatError(f"{path}: the manifest has no probe to check the decoded model against.")
        expected = np.asarray(probe["outputs"], dtype="float32")
        got = probe_outputs(model, probe.get("seed", PROBE_SEED), count=len(expected))
        scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-4, atol=1e-5 * scale):
            raise ShippedFormatError(f"{path}: the decoded model's outputs differ from the probe the file was written "
                                     "with: refusing a silently wrong model.")
    return fold_model(model) if fold else model


def quantize(model, bits=8):
    """``model`` as the shipping format stores it at ``bits``: a new model
    whose weights are the values decoded from its shipped bytes (spectral
    layers keep their masks; save it as ``.keras``, fold it, train it on).

    Keras's own ``Model.quantize`` quantizes only layers that hold a
    ``_kernel`` variable (Dense, EinsumDense, Embedding); a spectral layer's
    kernel is computed from its coefficients, and convolutions are never
    quantized by Keras, so the integer storage of every layer is this format.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.dctk")
        save_shipped(model, path, bits=bits)
        return load_shipped(path)
