"""Entropy coding of integer symbols with a known model: interleaved rANS in NumPy.

A matched coder spends within a fraction of a percent of the model's
information content, ``sum(-log2 p(symbol))`` bits, where a general-purpose
coder (LZMA) spends about a quarter more on quantized weights. Encoder and
decoder are NumPy only (no framework, no compiled extension), so a deployment
decodes a shipped model with NumPy alone.

The model is a table of integer frequencies summing to ``2 ** precision``
(`frequency_table` turns probabilities into one by a deterministic rule;
`logistic_table` makes the table of a discretized logistic prior, the
probability model of rate–distortion training), or several such tables
with each symbol's table named (``tables``); every symbol to code must have
a non-zero frequency (values outside a table are escaped by the caller).

The coder (Duda's range asymmetric numeral systems, interleaved as in
Giesen's "Interleaved entropy coders", 2014): ``lanes`` independent 32-bit
states, lane ``i`` coding symbols ``i, i + lanes, i + 2 lanes, ...``; each
renormalizes by 16-bit words into one shared stream, in an order the decoder
reproduces, so every NumPy operation acts on all lanes at once. The lane
count follows from the symbol count alone (`lanes_for`), so it is not
stored. The stream::

    lanes x u32 final states | u16 words

Decoding ends with every state back at its initial value: a damaged stream
is detected (`EntropyCodingError`) unless the damage is undone by chance.
"""

import math

import numpy as np

STATE_LOW = 1 << 16  # states live in [2^16, 2^32) between symbols
WORD_BITS = 16
MAX_PRECISION = 16
MAX_LANES = 256


class EntropyCodingError(ValueError):
    """A stream does not decode with the given model and count."""


def lanes_for(count):
    """The number of interleaved states of a stream of ``count`` symbols: one
    per 65,536 symbols, 1 to 256 (a state costs 4 bytes; more lanes make
    NumPy's per-step work larger)."""
    return int(min(MAX_LANES, max(1, count // 65536)))


def frequency_table(probabilities, precision=12):
    """Integer frequencies summing to ``2 ** precision`` for ``probabilities``
    (non-negative, any sum; each symbol with a positive probability gets at
    least 1). Deterministic: floors of the scaled probabilities, then the
    remainder one by one to the largest fractional parts (ties: the lower
    index), or taken back from the largest frequencies (ties: the lower
    index) when the minimum of 1 overshot."""
    p = np.asarray(probabilities, np.float64)
    if p.ndim != 1 or not len(p) or np.any(~np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(f"Invalid value for argument `probabilities`: expected a 1-D array of non-negative numbers "
                         f"with a positive sum, received {probabilities!r}.")
    if not 1 <= precision <= MAX_PRECISION:
        raise ValueError(f"Invalid value for argument `precision`: expected 1..{MAX_PRECISION}, received {precision!r}.")
    total = 1 << precision
    used = p > 0
    if used.sum() > total:
        raise ValueError(f"{int(used.sum())} symbols do not fit a table of {total} slots: raise `precision`.")
    scaled = p / p.sum() * total
    frequencies = np.where(used, np.maximum(np.floor(scaled), 1), 0).astype(np.int64)
    remainder = total - int(frequencies.sum())
    if remainder > 0:
        fractions = np.where(used, scaled - np.floor(scaled), -1.0)
        order = np.lexsort((np.arange(len(p)), -fractions))  # largest fraction first, then lower index
        frequencies[order[:remainder]] += 1
    while remainder < 0:  # the minimum of 1 overshot: take back from the largest, one at a time
        index = int(np.argmax(frequencies))
        frequencies[index] -= 1
        remainder += 1
    return frequencies


def logistic_probabilities(scale, radius, zero_logit=None):
    """The probabilities of the integers ``-radius..radius`` under a
    zero-centred logistic of ``scale`` discretized to unit bins (the mass of
    ``[k - 1/2, k + 1/2]``), then the mass of both tails beyond them; with
    ``zero_logit``, a spike at zero of mass ``sigmoid(zero_logit)`` and the
    logistic's masses times the rest."""
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    scale = float(scale)
    inside = _sigmoid((k + 0.5) / scale) - _sigmoid((k - 0.5) / scale)
    probabilities = np.concatenate([inside, [2.0 * _sigmoid(-(radius + 0.5) / scale)]])
    if zero_logit is None:
        return probabilities
    spike = float(_sigmoid(np.float64(zero_logit)))
    probabilities = probabilities * float(_sigmoid(-np.float64(zero_logit)))
    probabilities[radius] += spike
    return probabilities


def logistic_radius(scale, precision):
    """The half-width of `logistic_table`'s table: the smallest ``r`` whose
    two tails beyond ``r + 1/2`` hold at most ``2 ** -precision`` of the mass
    (at most ``2 ** (precision - 2)``)."""
    reach = float(scale) * math.log(2.0 ** (precision + 1) - 1.0) - 0.5
    return int(min(max(0, math.ceil(reach)), 1 << (precision - 2)))


def logistic_table(scale, precision, zero_logit=None):
    """``(radius, frequencies)`` of a discretized logistic prior of ``scale``
    (in units of the quantization step; with ``zero_logit``, plus a spike at
    zero, `logistic_probabilities`): the table codes the integers
    ``-radius..radius`` as symbols ``0..2 radius`` and an escape symbol
    ``2 radius + 1`` standing for any integer beyond them (whose value the
    caller stores apart). The rule is deterministic: `logistic_radius`, the
    probabilities of `logistic_probabilities` in float64, `frequency_table`."""
    if not (isinstance(scale, (int, float, np.floating)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"Invalid value for argument `scale`: expected a finite number > 0, received {scale!r}.")
    radius = logistic_radius(scale, precision)
    return radius, frequency_table(logistic_probabilities(scale, radius, zero_logit), precision)


def logistic_tables(scales, precision, zero_logits=None):
    """``(radii, frequencies)`` of the `logistic_table` of every scale (and
    zero logit): radii (int64) and the tables as rows of one 2-D array
    (zero-padded)."""
    scales = np.asarray(scales, np.float64).ravel()
    logits = [None] * len(scales) if zero_logits is None else np.asarray(zero_logits, np.float64).ravel()
    tables = [logistic_table(float(scale), precision, logit) for scale, logit in zip(scales, logits)]
    frequencies = np.zeros((len(tables), max(len(f) for _, f in tables)), np.int64)
    for row, (_, table) in enumerate(tables):
        frequencies[row, :len(table)] = table
    return np.array([radius for radius, _ in tables], np.int64), frequencies


# A coded weight's prior parameters as stored, one byte each: log2 of the
# scale in 1/16 octave from 2^-8 (the rate's smallest scale) to 2^8, the
# spike's logit in steps of 1/8 from -16 to 16 (nearest, clipped). The tables
# are made from the stored values on both sides, so the bytes only move the
# coding cost: a scale within 2.2 %, a logit within 1/16 of the trained one.
SCALE_LOW, SCALE_LEVELS_PER_OCTAVE = -8.0, 16
LOGIT_LOW, LOGIT_LEVELS_PER_UNIT = -16.0, 8


def pack_priors(scales, zero_logits):
    """``(scale bytes, logit bytes)``: uint8 arrays of the stored form."""
    log_scales = np.log2(np.maximum(np.asarray(scales, np.float64), 2.0 ** SCALE_LOW))
    scale_bytes = np.clip(np.round((log_scales - SCALE_LOW) * SCALE_LEVELS_PER_OCTAVE), 0, 255).astype(np.uint8)
    logit_bytes = np.clip(np.round((np.asarray(zero_logits, np.float64) - LOGIT_LOW) * LOGIT_LEVELS_PER_UNIT), 0, 255)
    return scale_bytes, logit_bytes.astype(np.uint8)


def unpack_priors(scale_bytes, logit_bytes):
    """``(scales, zero logits)`` (float64) of `pack_priors`' bytes."""
    scales = 2.0 ** (np.asarray(scale_bytes, np.float64) / SCALE_LEVELS_PER_OCTAVE + SCALE_LOW)
    return scales, np.asarray(logit_bytes, np.float64) / LOGIT_LEVELS_PER_UNIT + LOGIT_LOW


def conditional_zero_logits(zero_logits, ratio):
    """The spike logits of priors after ``1 - 1/ratio`` of a tensor's codes,
    all of them zeros, were removed (a coded weight's empty slices, which a
    shipped file marks instead of coding): the non-zero codes are as many in
    ``ratio`` times fewer, so the mass outside the spike, ``sigmoid(-logit)``,
    is ``ratio`` times larger (at most ``1 - 2^-20``); float64."""
    outside = np.minimum(_sigmoid(-np.asarray(zero_logits, np.float64)) * float(ratio), 1.0 - 2.0 ** -20)
    return np.log1p(-outside) - np.log(outside)


def escape(values, radii):
    """``(symbols, escaped values)`` of integers under `logistic_table`s of
    the given per-value ``radii``: ``value + radius``, or the escape symbol
    ``2 radius + 1`` for a value beyond its table (kept, in order, apart)."""
    values, radii = np.asarray(values, np.int64), np.asarray(radii, np.int64)
    beyond = np.abs(values) > radii
    return np.where(beyond, 2 * radii + 1, values + radii), values[beyond]


def unescape(symbols, radii, escaped):
    """The integers of `escape`'s symbols and escaped values."""
    symbols, radii = np.asarray(symbols, np.int64), np.asarray(radii, np.int64)
    values = symbols - radii
    beyond = symbols == 2 * radii + 1
    if int(beyond.sum()) != len(escaped):
        raise EntropyCodingError(f"{int(beyond.sum())} escape symbols for {len(escaped)} escaped values.")
    values[beyond] = escaped
    return values


def _sigmoid(x):
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def information_bits(symbols, frequencies, precision):
    """``sum(-log2(frequency / 2^precision))`` over ``symbols``: the size the
    model predicts, in bits (what the coder approaches)."""
    counts = np.bincount(np.asarray(symbols, np.int64), minlength=len(frequencies))
    used = counts > 0
    return float(np.sum(counts[used] * (precision - np.log2(np.asarray(frequencies, np.float64)[used]))))


def encode(symbols, frequencies, precision, tables=None):
    """The rANS stream (bytes) of ``symbols`` (integers in
    ``[0, len(frequencies))``, each with a non-zero frequency).

    ``frequencies`` is one table, or with ``tables`` (each symbol's row) a 2-D
    array of tables, one per row (rows padded with zeros to one length)."""
    symbols = np.asarray(symbols, np.int64).ravel()
    frequencies, cumulative, symbols = _flat_tables(frequencies, precision, symbols, tables)
    count = len(symbols)
    lanes = lanes_for(count)
    states = np.full(lanes, STATE_LOW, np.uint64)
    limit_shift = np.uint64(32 - precision)
    shift, word_shift, word_mask = np.uint64(precision), np.uint64(WORD_BITS), np.uint64((1 << WORD_BITS) - 1)
    emitted = []
    for start in range(((count - 1) // lanes) * lanes if count else -1, -1, -lanes):
        coded = symbols[start:start + lanes]
        active = len(coded)
        x = states[:active]
        f, c = frequencies[coded], cumulative[coded]
        emit = x >= (f << limit_shift)
        if emit.any():
            emitted.append((x[emit] & word_mask).astype(np.uint16))
            x = np.where(emit, x >> word_shift, x)
        states[:active] = ((x // f) << shift) + (x % f) + c
    words = np.concatenate(emitted)[::-1] if emitted else np.zeros(0, np.uint16)
    return states.astype("<u4").tobytes() + words.astype("<u2").tobytes()


def decode(stream, count, frequencies, precision, tables=None):
    """The ``count`` symbols (int64) of a stream of `encode` with the same
    table(s); raises `EntropyCodingError` when the stream does not check out."""
    frequencies = np.asarray(frequencies, np.int64)
    width = frequencies.shape[-1] if frequencies.ndim else 0
    rows = np.zeros(count, np.int64) if tables is None else np.asarray(tables, np.int64).ravel()
    frequencies, cumulative, _ = _flat_tables(frequencies, precision, np.zeros(0, np.int64), None if tables is None else [])
    if len(rows) != count or (count and (rows.min() < 0 or rows.max() * width >= len(frequencies))):
        raise ValueError(f"`tables` must name a table row for each of the {count} symbols.")
    lanes = lanes_for(count)
    if len(stream) < 4 * lanes or (len(stream) - 4 * lanes) % 2:
        raise EntropyCodingError(f"a stream of {count} symbols needs {4 * lanes} bytes of states and whole words; "
                                 f"got {len(stream)} bytes.")
    states = np.frombuffer(stream, "<u4", count=lanes).astype(np.uint64)
    words = np.frombuffer(stream, "<u2", offset=4 * lanes).astype(np.uint64)
    # Slot -> symbol of every table: row t's slots start at t * 2^precision.
    slot_symbol = np.repeat(np.arange(len(frequencies)), frequencies.astype(np.int64))
    row_start = rows * (1 << precision)
    shift, word_shift, slot_mask = np.uint64(precision), np.uint64(WORD_BITS), np.uint64((1 << precision) - 1)
    out = np.empty(count, np.int64)
    position = 0
    for start in range(0, count, lanes):
        active = min(lanes, count - start)
        x = states[:active]
        if x.min() < STATE_LOW:
            raise EntropyCodingError("a state fell out of range: the stream is damaged or was coded with another model.")
        slot = x & slot_mask
        coded = slot_symbol[row_start[start:start + active] + slot.astype(np.int64)]
        out[start:start + active] = coded - rows[start:start + active] * width
        x = frequencies[coded] * (x >> shift) + slot - cumulative[coded]
        need = np.flatnonzero(x < STATE_LOW)[::-1]
        if len(need):
            if position + len(need) > len(words):
                raise EntropyCodingError("the stream ended early: it is truncated or was coded with another model.")
            x[need] = (x[need] << word_shift) | words[position:position + len(need)]
            position += len(need)
        states[:active] = x
    if position != len(words) or np.any(states != STATE_LOW):
        raise EntropyCodingError("the stream does not end where its symbols do: it is damaged or was coded with "
                                 "another model.")
    return out


def _flat_tables(frequencies, precision, symbols, tables):
    """``(frequencies, cumulative frequencies, symbols)`` flattened over the
    rows of the tables, each symbol made an index into them."""
    frequencies = np.asarray(frequencies, np.int64)
    if frequencies.ndim == 1:
        frequencies = frequencies[None]
    if tables is None and len(frequencies) != 1 and len(symbols):
        raise ValueError("Several tables need `tables`: each symbol's row.")
    if frequencies.ndim != 2 or np.any(frequencies < 0) or np.any(frequencies.sum(axis=1) != 1 << precision):
        raise ValueError(f"Invalid value for argument `frequencies`: expected non-negative integers summing to "
                         f"2 ** {precision} (per table).")
    width = frequencies.shape[1]
    rows = np.zeros(len(symbols), np.int64) if tables is None else np.asarray(tables, np.int64).ravel()
    if len(symbols) and (len(rows) != len(symbols) or rows.min() < 0 or rows.max() >= len(frequencies)
                         or symbols.min() < 0 or symbols.max() >= width
                         or np.any(frequencies[rows, symbols] == 0)):
        raise ValueError("A symbol is outside its table or has frequency 0: escape it before coding.")
    cumulative = np.cumsum(frequencies, axis=1) - frequencies
    flat = rows * width + symbols
    return frequencies.ravel().astype(np.uint64), cumulative.ravel().astype(np.uint64), flat
