"""CTNet's export (ctnet_h265.txt §4): coefficient tensors as an H.265 video.

Layout (ours, after the authors'): every spectral coefficient tensor (masked)
becomes a 2-D image — a ``(kh, kw, in, out)`` kernel as ``(out * kh) x
(in * kw)`` (pixel ``[o kh + u, i kw + v]`` = coefficient ``[u, v, i, o]``), a
2-D ``(in, out)`` one as ``out x in``, a 1-D one as one row — cut into tiles of
at most ``tile x tile`` (128) pixels. Each tile is one gray frame, padded to
the full frame size; its values are mapped linearly to ``0 .. 2^bits - 1``
with its own minimum and step (per-frame normalization), optionally with a
seeded subtractive dither. Frames are ordered by similarity (greedy
nearest-neighbour, `dct_keras.spectral.greedy_order`) and encoded by libx265
in-process (PyAV): ``lossless=1`` (bit-exact pixels; x265's ``crf=0`` is *not*
lossless) or ``crf=N``. Every other weight (biases, batch normalization,
masks, plain layers) is stored raw (float32 / its dtype) in ``raw.npz``.

``manifest.json`` holds what decoding needs: format version, the model's
architecture (Keras JSON, rebuilt without running code), per weight its path,
shape, dtype and storage, the frame map and per-frame normalization, the
spectral transforms (axes and block sizes), checksums of the files, and a
probe: the model's outputs on a seeded input. `load_h265` checks all of it and
refuses a manifest that does not match its files, a wrong block size, a
truncated stream or an unknown version, never returning a silently wrong
model.
"""

import hashlib
import json
import lzma
import os
import sys
import tempfile
import time
import zipfile

import keras
import numpy as np

from dct_keras.accounting import count_params
from dct_keras.export.npz import save_compressed
from dct_keras.spectral.orders import greedy_order
from dct_keras.surgery import spectral_layers

FORMAT = "dct_keras.h265/1"
BIT_DEPTHS = {8: "gray", 10: "gray10le", 12: "gray12le"}
VIDEO, RAW, MANIFEST = "coefficients.hevc", "raw.npz", "manifest.json"
FILES = {"video": VIDEO, "raw": RAW, "manifest": MANIFEST}  # the parts of an export, as its size report names them


class H265FormatError(ValueError):
    """An export folder that cannot be decoded into the model it claims."""


def _image(tensor):
    """A coefficient tensor as a 2-D image (see the module docstring)."""
    if tensor.ndim == 4:
        kh, kw, channels, filters = tensor.shape
        return np.transpose(tensor, (3, 0, 2, 1)).reshape(filters * kh, channels * kw)
    if tensor.ndim == 2:
        return tensor.T
    return tensor.reshape(1, -1)


def _from_image(image, shape):
    if len(shape) == 4:
        kh, kw, channels, filters = shape
        return np.transpose(image.reshape(filters, kh, channels, kw), (1, 3, 2, 0))
    if len(shape) == 2:
        return image.T
    return image.reshape(shape)


def _tiles(image, tile):
    for row in range(0, image.shape[0], tile):
        for column in range(0, image.shape[1], tile):
            yield row, column, image[row:row + tile, column:column + tile]


def _probe_input(model, seed=1234):
    shape = tuple(model.inputs[0].shape)
    return np.random.default_rng(seed).standard_normal((2,) + tuple(d or 1 for d in shape[1:])).astype("float32")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _transform_signature(weight):
    return {"axes": list(weight.transform.axes), "block_sizes": {str(a): b for a, b in weight.transform.block_sizes.items()}}


def quantize(model, bit_depth=8, tile=128, dither=0.0, seed=0):
    """The frames of `export_h265` before encoding: ``(coded, frame_map,
    pixels)`` with ``coded`` the coefficient tensors by variable path, the
    frame map (tensor, position, size, per-frame minimum and step) and the
    uint16 pixel frames."""
    levels = 2 ** bit_depth - 1
    coded = {}
    for layer in spectral_layers(model):
        for weight in layer.spectral_weights if layer.built else []:
            coded[weight.coefficients.path] = (weight, keras.ops.convert_to_numpy(weight.coefficients) * weight.mask_numpy())
    frame_map, pixels = [], []
    rng = np.random.default_rng(seed)
    for index, (_, values) in enumerate(coded.values()):
        for row, column, block in _tiles(_image(values.astype("float64")), tile):
            low, high = float(block.min()), float(block.max())
            step = (high - low) / levels if high > low else 1.0
            frame_map.append({"tensor": index, "row": row, "column": column, "height": block.shape[0],
                              "width": block.shape[1], "low": low, "step": step})
            frame = np.full((tile, tile), low)
            frame[: block.shape[0], : block.shape[1]] = block
            noise = rng.uniform(-dither / 2, dither / 2, frame.shape) if dither else 0.0
            pixels.append(np.clip(np.rint((frame - low) / step + noise), 0, levels).astype(np.uint16))
    return coded, frame_map, pixels


def export_h265(model, out_dir, bit_depth=8, lossless=True, crf=None, preset="medium", tile=128, dither=0.0,
                seed=0, progress=True, baselines=True):
    """Writes ``model`` as an H.265 video of its coefficients plus raw tensors
    and a manifest into ``out_dir``; returns a dict of sizes (bytes per part,
    total, the float32 model size, ratio; the honest baselines: the same
    quantized pixels under lzma plus the raw part (``lzma_pixels``) and the
    float16 `save_compressed` file (``float16_npz``)) and the export time.

    Args:
        model: a built Functional or Sequential model with spectral layers.
        out_dir: folder to write (created).
        bit_depth: 8, 10 or 12 bits per pixel.
        lossless: x265 ``lossless=1`` (the decoded pixels equal the encoded ones).
        crf: with ``lossless=False``, x265's constant rate factor (0-51).
        preset: x265 preset ("ultrafast" ... "placebo").
        tile: frame side (tiles of at most ``tile x tile``).
        dither: amplitude, in quantization steps, of a seeded uniform noise
            added before rounding and subtracted after decoding (0: none).
        seed: the dither's seed.
        progress: a progress bar over the frames and one line per stage.
        baselines: also measure ``lzma_pixels`` and ``float16_npz`` (a few
            seconds for a ResNet-18; off for a quick size reading).
    """
    import av  # PyAV bundles libx265

    if bit_depth not in BIT_DEPTHS:
        raise ValueError(f"Invalid value for argument `bit_depth`: expected one of {sorted(BIT_DEPTHS)}, received {bit_depth!r}.")
    if not lossless and (crf is None or not 0 <= crf <= 51):
        raise ValueError(f"Invalid value for argument `crf`: lossy export needs 0 <= crf <= 51, received {crf!r}.")
    if not 0 <= dither < 1:
        raise ValueError(f"Invalid value for argument `dither`: expected 0 <= dither < 1 (quantization steps), received {dither!r}.")
    if not any(layer.spectral_weights for layer in spectral_layers(model) if layer.built):
        raise ValueError("The model has no DCT coefficients for H.265 to code (no layer with masked spectral weights: "
                         "a plain, harmonic or reorder-DCT model). Convert it first (`dct_keras.convert(model, "
                         "to=\"dct\")`), or ship it with the general coder (`--format dctk`, `save_shipped`).")
    start = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    coded, frame_map, pixels = quantize(model, bit_depth, tile, dither, seed)
    order = greedy_order(np.stack([p.ravel() for p in pixels]).astype("float64")) if pixels else np.zeros(0, int)
    if progress:
        print(f"  h265 export: {len(coded)} coefficient tensors -> {len(pixels)} frames of {tile}x{tile}, "
              f"{bit_depth} bit, {'lossless' if lossless else f'crf {crf}'}", file=sys.stderr, flush=True)
    video_path = os.path.join(out_dir, VIDEO)
    if pixels:
        container = av.open(video_path, "w", format="hevc")
        stream = container.add_stream("libx265", rate=1)
        stream.width = stream.height = tile
        stream.pix_fmt = BIT_DEPTHS[bit_depth]
        quality = "lossless=1" if lossless else f"crf={crf}"
        stream.options = {"preset": preset, "x265-params": f"{quality}:keyint=-1:log-level=error"}
        bar = _progress_bar(len(order), progress)
        for count, number in enumerate(order, start=1):
            frame = pixels[number] if bit_depth > 8 else pixels[number].astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format=BIT_DEPTHS[bit_depth])):
                container.mux(packet)
            if bar:
                bar.update(count)
        for packet in stream.encode():
            container.mux(packet)
        container.close()
    raw = {}
    entries = []
    coded_ids = {id(weight.coefficients) for weight, _ in coded.values()}
    for number, variable in enumerate(model.weights):
        entry = {"path": variable.path, "shape": list(variable.shape), "dtype": str(variable.dtype)}
        if id(variable) in coded_ids:
            weight = coded[variable.path][0]
            entry.update(storage="video", tensor=list(coded).index(variable.path), transform=_transform_signature(weight))
        else:
            entry.update(storage="raw", key=f"w{number}")
            raw[f"w{number}"] = keras.ops.convert_to_numpy(variable)
        entries.append(entry)
    raw_path = os.path.join(out_dir, RAW)
    np.savez_compressed(raw_path, **raw)
    manifest = {
        "format": FORMAT, "model": json.loads(model.to_json()), "weights": entries, "bit_depth": bit_depth,
        "tile": tile, "lossless": bool(lossless), "crf": crf, "dither": dither, "seed": seed,
        "frames": frame_map, "frame_order": [int(i) for i in order],
        "files": {VIDEO: _sha256(video_path) if pixels else None, RAW: _sha256(raw_path)},
    }
    # The probe is what `load_h265` will return: the model rebuilt from the
    # pixels the written stream decodes to (not the encoded ones, which a lossy
    # setting changes).
    decoded = _rebuild(manifest, _decode_pixels(video_path, manifest) if pixels else [], raw, out_dir)
    probe = _probe_input(model)
    manifest["probe"] = {"seed": 1234, "outputs": keras.ops.convert_to_numpy(decoded(probe)).ravel()[:256].tolist()}
    with open(os.path.join(out_dir, MANIFEST), "w") as f:
        json.dump({**manifest, "manifest_sha256": _manifest_digest(manifest)}, f)
    sizes = {"video": os.path.getsize(video_path) if pixels else 0, "raw": os.path.getsize(raw_path),
             "manifest": os.path.getsize(os.path.join(out_dir, MANIFEST))}
    sizes["total"] = sum(sizes.values())
    # The model's parameters as float32 (the paper's "total model float32
    # size"): every weight but the masks' bookkeeping (packed bits, fractions).
    sizes["float32"] = 4 * count_params(model).total
    sizes["ratio"] = sizes["float32"] / sizes["total"]
    if baselines:
        sizes["lzma_pixels"] = len(lzma.compress(b"".join(p.astype(np.uint8 if bit_depth == 8 else np.uint16).tobytes()
                                                          for p in pixels))) + sizes["raw"] + sizes["manifest"]
        with tempfile.TemporaryDirectory() as folder:  # the float16 `save_compressed` baseline
            save_compressed(model, os.path.join(folder, "model.npz"), dtype="float16")
            sizes["float16_npz"] = os.path.getsize(os.path.join(folder, "model.npz"))
    sizes["export_s"] = round(time.perf_counter() - start, 2)
    if progress:
        print(f"  h265 export: video {sizes['video']:,} B + raw {sizes['raw']:,} B + manifest {sizes['manifest']:,} B = "
              f"{sizes['total']:,} B ({sizes['ratio']:.1f}x smaller than float32) in {sizes['export_s']} s",
              file=sys.stderr, flush=True)
    return sizes


def _progress_bar(frames, progress):
    """A per-frame progress bar (None when ``progress`` is off, or when the
    output is not a terminal: a log gets the stage lines, not control codes)."""
    return keras.utils.Progbar(frames, unit_name="frame", interval=0.5) if (
        progress and frames and sys.stdout.isatty()) else None


def _decode_pixels(video_path, manifest, progress=False):
    import av

    fmt = BIT_DEPTHS[manifest["bit_depth"]]
    bar = _progress_bar(len(manifest["frame_order"]), progress)
    decoded = []
    try:
        with av.open(video_path, "r", format="hevc") as container:
            for frame in container.decode(video=0):
                decoded.append(frame.to_ndarray(format=fmt))
                if bar and len(decoded) <= bar.target:
                    bar.update(len(decoded))
    except av.error.FFmpegError as error:
        raise H265FormatError(f"{video_path}: the H.265 stream cannot be decoded ({error}).") from None
    if len(decoded) != len(manifest["frame_order"]):
        raise H265FormatError(f"{video_path}: decoded {len(decoded)} frames, the manifest expects "
                              f"{len(manifest['frame_order'])} (truncated stream?).")
    pixels = [None] * len(decoded)
    for position, number in enumerate(manifest["frame_order"]):
        pixels[number] = decoded[position].astype(np.uint16)
    return pixels


def _rebuild(manifest, pixels, raw, source):
    """The Keras model a manifest, its frames and raw tensors describe."""
    model = keras.models.model_from_json(json.dumps(manifest["model"]))
    # Weights match by position: variable paths depend on how a model was
    # built (a Sequential built in code prefixes its name, one from JSON not).
    variables = model.weights
    if len(variables) != len(manifest["weights"]):
        raise H265FormatError(f"{source}: the manifest lists {len(manifest['weights'])} weights, its architecture "
                              f"builds {len(variables)} (manifest and files do not match).")
    images = {}
    rng = np.random.default_rng(manifest["seed"])
    levels = 2 ** manifest["bit_depth"] - 1
    dither = manifest["dither"]
    tile = manifest["tile"]
    video_entries = {e["tensor"]: e for e in manifest["weights"] if e["storage"] == "video"}
    for entry, frame in zip(manifest["frames"], pixels):
        noise = rng.uniform(-dither / 2, dither / 2, (tile, tile)) if dither else 0.0
        values = (np.clip(frame, 0, levels) - noise) * entry["step"] + entry["low"]
        weight_entry = video_entries[entry["tensor"]]
        if entry["tensor"] not in images:
            images[entry["tensor"]] = np.zeros(_image(np.zeros(weight_entry["shape"])).shape)
        image = images[entry["tensor"]]
        h, w = entry["height"], entry["width"]
        image[entry["row"]:entry["row"] + h, entry["column"]:entry["column"] + w] = values[:h, :w]
    transforms = {}
    for layer in spectral_layers(model):
        for weight in layer.spectral_weights if layer.built else []:
            transforms[id(weight.coefficients)] = weight
    for entry, variable in zip(manifest["weights"], variables):
        if list(variable.shape) != entry["shape"]:
            raise H265FormatError(f"{source}: weight {entry['path']} {entry['shape']} does not exist in the rebuilt "
                                  "architecture (manifest and files do not match).")
        if entry["storage"] == "raw":
            variable.assign(raw[entry["key"]])
            continue
        weight = transforms.get(id(variable))
        if weight is None or _transform_signature(weight) != entry["transform"]:
            raise H265FormatError(f"{source}: weight {entry['path']} was exported with the transform {entry['transform']}, "
                                  f"but the manifest's architecture builds {None if weight is None else _transform_signature(weight)} "
                                  "(wrong block size?): decoding would give a different model.")
        variable.assign(_from_image(images[entry["tensor"]], entry["shape"]).astype("float32"))
    for layer in spectral_layers(model):  # masks are raw: zero the switched-off coefficients exactly again
        for weight in layer.spectral_weights:
            weight.refresh_extents()
            weight.coefficients.assign(keras.ops.convert_to_numpy(weight.coefficients) * weight.mask_numpy())
    for layer in model.layers:  # a running variance quantized below zero would give NaN
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_variance.assign(np.maximum(keras.ops.convert_to_numpy(layer.moving_variance), 0.0))
    return model


def _manifest_digest(manifest):
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def _load_checked(out_dir, manifest, progress):
    """The model of a manifest whose own checksum holds: files checked,
    frames decoded, the model rebuilt and held against the probe."""
    for name, digest in manifest["files"].items():
        path = os.path.join(out_dir, name)
        if digest is not None and (not os.path.exists(path) or _sha256(path) != digest):
            raise H265FormatError(f"{path}: missing or changed since export (checksum mismatch): the manifest and the "
                                  "files do not belong together, or the file was truncated.")
    if progress:
        print(f"  h265 load: decoding {len(manifest['frame_order'])} frames", file=sys.stderr, flush=True)
    pixels = _decode_pixels(os.path.join(out_dir, VIDEO), manifest, progress) if manifest["frame_order"] else []
    try:
        with np.load(os.path.join(out_dir, RAW), allow_pickle=False) as data:
            raw = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise H265FormatError(f"{out_dir}/{RAW}: unreadable ({error}).") from None
    model = _rebuild(manifest, pixels, raw, out_dir)
    expected = np.asarray(manifest["probe"]["outputs"])
    got = keras.ops.convert_to_numpy(model(_probe_input(model, manifest["probe"]["seed"]))).ravel()[: expected.size]
    if not np.allclose(got, expected, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(expected).max()))):
        raise H265FormatError(f"{out_dir}: the decoded model's outputs differ from the exported model's "
                              f"(max difference {np.abs(got - expected).max():.3g}): refusing a silently wrong model.")
    return model, pixels


def load_h265(out_dir, progress=True):
    """Rebuilds the Keras model of an `export_h265` folder (with a per-frame
    progress bar when ``progress``); raises `H265FormatError` (one
    paragraph) on anything that does not match."""
    start = time.perf_counter()
    manifest_path = os.path.join(out_dir, MANIFEST)
    try:
        with open(manifest_path) as f:
            manifest = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise H265FormatError(f"{manifest_path}: not a readable manifest ({error}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise H265FormatError(f"{manifest_path}: unknown format {found!r}; this version reads {FORMAT!r}.")
    if manifest.pop("manifest_sha256", None) != _manifest_digest(manifest):
        raise H265FormatError(f"{manifest_path}: the manifest does not match its own checksum: it was edited or damaged.")
    try:
        model, pixels = _load_checked(out_dir, manifest, progress)
    except (KeyError, TypeError, IndexError) as error:
        raise H265FormatError(f"{manifest_path}: the manifest lacks or mangles an entry ({type(error).__name__}: "
                              f"{error}).") from None
    if progress:
        print(f"  h265 load: {len(pixels)} frames decoded in {time.perf_counter() - start:.2f} s", file=sys.stderr, flush=True)
    return model

