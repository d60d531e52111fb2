"""Reading a shipped model (``.dctk``, `dct_keras.export.ship`) with NumPy only.

A deployment can read the weights without TensorFlow or Keras: this module
imports NumPy, the standard library (lzma, json, hashlib) and the spectral
core's NumPy-only `orders`.

The file::

    b"DCTKSHIP" | u32 header length | header | payload | 16-byte SHA-256 of the header

* header: lzma (raw LZMA2) of the JSON manifest: format version, the model's
  architecture (``{"recipe": ...}``: the library calls that build it,
  `dct_keras.recipes`; or its Keras JSON), one entry per weight, the payload's length and
  16-byte SHA-256, and a probe (a seeded input and the outputs the decoded
  weights must give);
* payload (formats 2 and 3): u32 length | lzma (raw LZMA2) of every weight's stored
  bytes, in entry order | the rANS streams of the entries coded with
  ``"coder": "rans"``, in entry order (format 1, still read: the lzma part
  alone).

Every weight entry has a ``storage``:

* ``"spectral"`` – a coefficient tensor under a mask: the mask is ``all``
  (nothing off), ``tail`` (the ``kept`` lowest frequencies in zigzag order of
  its ``levels`` axes and blocks: a count, no bits) or ``bits`` (one bit per
  coefficient); the kept values follow in row-major order, coded as ``codec``;
* ``"sparse"`` – a plain tensor that is mostly zeros: a bit mask of its
  non-zeros, then their values as ``codec``;
* ``"dense"`` – any other float tensor, coded as ``codec``;
* ``"integer"`` – an integer tensor (reorder-DCT's order indices) as the
  smallest unsigned type that holds it, exactly;
* ``"coded"`` – a rate–distortion weight: per group (``group_shape``) a
  float16 step (2^-10 for a group without a non-zero code whose own step
  float16 cannot hold: it decodes to zeros either way), then its prior's scale and zero logit a byte each
  (``"priors": "u8"``, `dct_keras.entropy.unpack_priors`; float16 each in
  files without it), then the escaped codes as int32; the codes themselves
  in the rANS part under the tables `dct_keras.entropy.logistic_tables`
  makes from those priors. With ``"slices"`` (format 3: a list of axes, the
  last two of a kernel or dense matrix), the escapes are followed by one bit
  per slice along each of those axes (packed, little-endian bit order): the
  slices holding a non-zero code; the stream codes only the codes inside
  them (row-major), under the priors with the spike's mass conditioned on the
  removed zeros (`dct_keras.entropy.conditional_zero_logits`); the codes
  elsewhere are zero.

Codecs: ``float32`` (exact), ``float16``, or ``int<b>`` (b = 2..16): symmetric
uniform quantization with one scale per slice along the entry's
``group_axis`` (the last axis: output channels of a kernel, output-axis
frequency bands of a tensor transformed over every axis; the first axis for
reorder-DCT's rows), ``scale = max|v| / (2^(b-1) - 1)`` as float32, codes
``round(v / scale)`` as int8 (b <= 8) or int16. A value decodes within half a
step: ``|v - code * scale| <= scale / 2``.

Coders: an entry's stored bytes are LZMA-compressed with the rest, unless it
says ``"coder": "rans"``: its integer codes are then not among its stored
bytes (which keep the mask and the scales) but a stream of
``stream_bytes`` in the rANS part, coded with the entry's ``table``
(``low``: the smallest code, ``precision``, ``frequencies`` of the codes
``low, low + 1, ...``) by `dct_keras.entropy`: a coder matched to the
tensor's own histogram, chosen per tensor where it is smaller than LZMA.
"""

import hashlib
import json
import lzma
import struct

import numpy as np

from dct_keras.entropy import EntropyCodingError
from dct_keras.entropy import decode as entropy_decode
from dct_keras.entropy import conditional_zero_logits, logistic_tables, unescape, unpack_priors
from dct_keras.spectral.orders import index_level, zigzag_order

MAGIC = b"DCTKSHIP"
FORMAT = "dct_keras.shipped/3"
READABLE = ("dct_keras.shipped/1", "dct_keras.shipped/2", FORMAT)
DIGEST_BYTES = 16
LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]


class ShippedFormatError(ValueError):
    """A shipped file is corrupted, truncated, tampered with, or not one."""


def digest(data):
    """The 16-byte SHA-256 prefix the format stores for a byte string."""
    return hashlib.sha256(data).digest()[:DIGEST_BYTES]


def compress(data):
    return lzma.compress(data, format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)


def decompress(data):
    return lzma.decompress(data, format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)


class Shipped:
    """A decoded shipped file: its ``manifest``, every weight by variable path
    (``weights``: float32 or integer arrays), the mask of every spectral
    weight (``masks``) and ``(codes, steps, scales)`` of every coded weight
    (``coded``)."""

    def __init__(self, manifest, weights, masks, coded):
        self.manifest, self.weights, self.masks, self.coded = manifest, weights, masks, coded


def read_shipped(path):
    """The `Shipped` content of a shipped file (weights keyed by the variable
    paths they were saved from, in the model's weight order).

    Raises `ShippedFormatError` (naming the file) for anything that does not
    check out: the magic, the lengths, the header's and the payload's
    checksums, the format version, an entry that does not decode.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise ShippedFormatError(f"{path}: not readable ({error.strerror or error}).") from None
    if not data.startswith(MAGIC):
        raise ShippedFormatError(f"{path}: not a dct_keras shipped model (it does not start with {MAGIC!r}).")
    prefix = len(MAGIC) + 4
    if len(data) < prefix + DIGEST_BYTES:
        raise ShippedFormatError(f"{path}: truncated ({len(data)} bytes).")
    (header_length,) = struct.unpack("<I", data[len(MAGIC):prefix])
    header_bytes = data[prefix:prefix + header_length]
    if len(header_bytes) != header_length or digest(header_bytes) != data[-DIGEST_BYTES:]:
        raise ShippedFormatError(f"{path}: the header does not match its checksum: the file is truncated or corrupted.")
    try:
        manifest = json.loads(decompress(header_bytes).decode("utf-8"))
    except (lzma.LZMAError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ShippedFormatError(f"{path}: the header does not decode ({error}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in READABLE:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ShippedFormatError(f"{path}: unknown format {found!r}; this version reads {', '.join(READABLE)}.")
    payload = data[prefix + header_length:-DIGEST_BYTES]
    try:
        expected_length, expected_digest = manifest["payload"]["length"], bytes.fromhex(manifest["payload"]["sha256"])
    except (KeyError, TypeError, ValueError):
        raise ShippedFormatError(f"{path}: the manifest has no valid `payload` entry.") from None
    if len(payload) != expected_length or digest(payload) != expected_digest:
        raise ShippedFormatError(f"{path}: the weights do not match the manifest's checksum: the file is truncated, "
                                 "corrupted, or its manifest comes from another file.")
    try:
        raw, streams = split_payload(payload, manifest["format"])
        return Shipped(manifest, *_decode_weights(manifest["weights"], raw, streams))
    except (lzma.LZMAError, KeyError, TypeError, ValueError, struct.error) as error:
        raise ShippedFormatError(f"{path}: a weight does not decode ({type(error).__name__}: {error}).") from None


def split_payload(payload, format_name=FORMAT):
    """``(stored bytes of every entry, the rANS part)`` of a payload."""
    if format_name == "dct_keras.shipped/1":
        return decompress(payload), b""
    (length,) = struct.unpack("<I", payload[:4])
    if 4 + length > len(payload):
        raise ValueError(f"the lzma part claims {length} bytes of {len(payload) - 4}")
    return decompress(payload[4:4 + length]), payload[4 + length:]


def _decode_weights(entries, raw, streams=b""):
    weights, masks, coded, offset, position = {}, {}, {}, 0, 0
    for entry in entries:
        chunk = raw[offset:offset + entry["bytes"]]
        if len(chunk) != entry["bytes"]:
            raise ValueError(f"{entry['path']}: {len(chunk)} of its {entry['bytes']} bytes")
        offset += entry["bytes"]
        stream = None
        if entry.get("coder") == "rans":
            stream = streams[position:position + entry["stream_bytes"]]
            if len(stream) != entry["stream_bytes"]:
                raise ValueError(f"{entry['path']}: {len(stream)} of its {entry['stream_bytes']} stream bytes")
            position += entry["stream_bytes"]
        if entry["storage"] == "coded":
            weights[entry["path"]], coded[entry["path"]] = decode_coded(entry, chunk, stream)
            continue
        weights[entry["path"]], mask = decode_entry(entry, chunk, stream)
        if mask is not None:
            masks[entry["path"]] = mask
    if offset != len(raw) or position != len(streams):
        raise ValueError(f"{len(raw) - offset} stored bytes and {len(streams) - position} stream bytes after the last weight")
    return weights, masks, coded


def decode_entry(entry, chunk, stream=None):
    """One weight (a NumPy array of its shape) and its mask (None unless
    spectral) from its entry, stored bytes and (``"coder": "rans"``) its
    stream."""
    shape = tuple(entry["shape"])
    if entry["storage"] == "integer":
        return np.frombuffer(chunk, dtype=entry["dtype"]).astype(entry["target_dtype"]).reshape(shape), None
    axis = entry.get("group_axis", -1) % len(shape) if shape else 0
    if entry["storage"] == "dense":
        groups = group_index(shape, axis) if entry["codec"].startswith("int") else None
        return decode_values(entry["codec"], chunk, shape, entry.get("groups"), groups, _codes(entry, stream, shape)), None
    mask = decode_mask(entry, chunk[:entry["mask_bytes"]])
    kept_shape = (int(mask.sum()),)
    groups = group_index(shape, axis)[mask] if entry["codec"].startswith("int") else None
    values = decode_values(entry["codec"], chunk[entry["mask_bytes"]:], kept_shape, entry.get("groups"), groups,
                           _codes(entry, stream, kept_shape))
    tensor = np.zeros(shape, dtype="float32")
    tensor[mask] = values
    return tensor, mask


def decode_coded(entry, chunk, stream):
    """The coefficients of a ``"coded"`` entry and ``(codes, steps, scales,
    zero logits)``: codes int64 of the entry's shape, the others float32 of
    its ``group_shape``."""
    shape, group_shape = tuple(entry["shape"]), tuple(entry["group_shape"])
    groups = int(np.prod(group_shape, dtype=np.int64))
    prior_bytes = 1 if entry.get("priors") == "u8" else 2  # a byte each (`pack_priors`), or float16 (before 2026-12-06)
    head = (2 + 2 * prior_bytes) * groups + 4 * entry["escapes"]
    axes = [int(axis) for axis in entry.get("slices", [])]
    if len(chunk) != head + sum((shape[axis] + 7) // 8 for axis in axes):
        raise ValueError(f"{entry['path']}: {len(chunk)} stored bytes for {groups} groups, {entry['escapes']} escapes "
                         f"and the slices of axes {axes}")
    steps = np.frombuffer(chunk, "<f2", count=groups).astype("float32")
    if prior_bytes == 1:
        scales, logits = unpack_priors(np.frombuffer(chunk, np.uint8, count=groups, offset=2 * groups),
                                       np.frombuffer(chunk, np.uint8, count=groups, offset=3 * groups))
    else:
        scales = np.frombuffer(chunk, "<f2", count=groups, offset=2 * groups).astype("float32")
        logits = np.frombuffer(chunk, "<f2", count=groups, offset=4 * groups).astype("float32")
    escaped = np.frombuffer(chunk, "<i4", count=entry["escapes"], offset=head - 4 * entry["escapes"]).astype(np.int64)
    index = [np.arange(n) for n in shape]
    offset = head
    for axis in axes:
        index[axis] = np.flatnonzero(np.unpackbits(np.frombuffer(chunk, np.uint8, count=(shape[axis] + 7) // 8, offset=offset),
                                                   count=shape[axis], bitorder="little"))
        offset += (shape[axis] + 7) // 8
    inside = tuple(len(i) for i in index)
    count = int(np.prod(inside, dtype=np.int64))
    ratio = int(np.prod(shape, dtype=np.int64)) / max(count, 1)
    numbers = group_numbers(inside, group_shape).ravel()
    radii, frequencies = logistic_tables(scales, entry["precision"], conditional_zero_logits(logits, ratio) if axes else logits)
    try:
        symbols = entropy_decode(stream, count, frequencies, entry["precision"], tables=numbers)
        codes = unescape(symbols, radii[numbers], escaped).reshape(inside)
        if axes:
            codes, inside_codes = np.zeros(shape, np.int64), codes
            codes[np.ix_(*index)] = inside_codes
    except EntropyCodingError as error:
        raise ValueError(f"{entry['path']}: {error}") from None
    coefficients = (codes * steps.reshape(group_shape)).astype("float32")
    return coefficients, (codes, *(values.astype("float32").reshape(group_shape) for values in (steps, scales, logits)))


def group_numbers(shape, group_shape):
    """Per entry of a tensor of ``shape``, its group's number (row-major over
    ``group_shape``, whose axes are either the tensor's or 1), int64."""
    numbers = np.arange(int(np.prod(group_shape, dtype=np.int64)), dtype=np.int64).reshape(group_shape)
    return np.broadcast_to(numbers, shape)


def group_index(shape, axis):
    """Per entry of a tensor of ``shape``, its index along ``axis`` (its scale's)."""
    view = [1] * len(shape)
    view[axis] = shape[axis]
    return np.broadcast_to(np.arange(shape[axis]).reshape(view), shape)


def decode_mask(entry, chunk):
    """The boolean mask of a spectral entry."""
    shape = tuple(entry["shape"])
    size = int(np.prod(shape, dtype=np.int64))
    kind = entry["mask"]
    if kind == "all":
        return np.ones(shape, dtype=bool)
    if kind == "tail":
        level = index_level(shape, entry["levels"]["axes"], {int(a): b for a, b in entry["levels"]["blocks"].items()})
        mask = np.zeros(size, dtype=bool)
        mask[zigzag_order(shape, level=level)[:entry["kept"]]] = True
        return mask.reshape(shape)
    return np.unpackbits(np.frombuffer(chunk, dtype=np.uint8), count=size, bitorder="little").astype(bool).reshape(shape)


def decode_values(codec, chunk, shape, group_count=None, groups=None, codes=None):
    """Float32 values of ``shape`` from their coded bytes (``codes``: the
    integer codes when they come from an entropy-coded stream instead)."""
    count = int(np.prod(shape, dtype=np.int64))
    if codec in ("float32", "float16"):
        return np.frombuffer(chunk, dtype=codec, count=count).astype("float32").reshape(shape)
    bits = int(codec[3:])
    code_type = np.int8 if bits <= 8 else np.int16
    scales = np.frombuffer(chunk, dtype="<f4", count=group_count)
    if codes is None:
        codes = np.frombuffer(chunk, dtype=code_type, count=count, offset=4 * group_count)
    return (codes.astype("float32") * scales[np.asarray(groups).ravel()]).astype("float32").reshape(shape)


def _codes(entry, stream, shape):
    """The integer codes of an entropy-coded entry (None for an LZMA one)."""
    if entry.get("coder") != "rans":
        return None
    table = entry["table"]
    count = int(np.prod(shape, dtype=np.int64))
    try:
        symbols = entropy_decode(stream, count, np.asarray(table["frequencies"], np.int64), int(table["precision"]))
    except EntropyCodingError as error:
        raise ValueError(f"{entry['path']}: {error}") from None
    return symbols + int(table["low"])
