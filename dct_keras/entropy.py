"""Entropy coding of integer symbols with a known model: interleaved rANS in NumPy.

A matched coder spends within a fraction of a percent of the model's
information content, ``sum(-log2 p(symbol))`` bits, where a general-purpose
coder (LZMA) spends about a quarter more on quantized weights. Encoder and
decoder are NumPy only (no framework, no compiled extension), so a deployment
decodes a shipped model with NumPy alone.

The model is a table of integer frequencies summing to ``2 ** precision``
(`frequency_table` turns probabilities into one by a deterministic rule);
every symbol to code must have a non-zero frequency (values outside a table
are escaped by the caller).

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


def information_bits(symbols, frequencies, precision):
    """``sum(-log2(frequency / 2^precision))`` over ``symbols``: the size the
    model predicts, in bits (what the coder approaches)."""
    counts = np.bincount(np.asarray(symbols, np.int64), minlength=len(frequencies))
    used = counts > 0
    return float(np.sum(counts[used] * (precision - np.log2(np.asarray(frequencies, np.float64)[used]))))


def encode(symbols, frequencies, precision):
    """The rANS stream (bytes) of ``symbols`` (integers in
    ``[0, len(frequencies))``, each with a non-zero frequency)."""
    symbols = np.asarray(symbols, np.int64).ravel()
    frequencies, cumulative = _table(frequencies, precision)
    count = len(symbols)
    if count and (symbols.min() < 0 or symbols.max() >= len(frequencies) or np.any(frequencies[symbols] == 0)):
        raise ValueError("A symbol is outside the table or has frequency 0: escape it before coding.")
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


def decode(stream, count, frequencies, precision):
    """The ``count`` symbols (int64) of a stream of `encode` with the same
    table; raises `EntropyCodingError` when the stream does not check out."""
    frequencies, cumulative = _table(frequencies, precision)
    lanes = lanes_for(count)
    if len(stream) < 4 * lanes or (len(stream) - 4 * lanes) % 2:
        raise EntropyCodingError(f"a stream of {count} symbols needs {4 * lanes} bytes of states and whole words; "
                                 f"got {len(stream)} bytes.")
    states = np.frombuffer(stream, "<u4", count=lanes).astype(np.uint64)
    words = np.frombuffer(stream, "<u2", offset=4 * lanes).astype(np.uint64)
    slot_symbol = np.repeat(np.arange(len(frequencies)), frequencies.astype(np.int64))
    shift, word_shift, slot_mask = np.uint64(precision), np.uint64(WORD_BITS), np.uint64((1 << precision) - 1)
    out = np.empty(count, np.int64)
    position = 0
    for start in range(0, count, lanes):
        active = min(lanes, count - start)
        x = states[:active]
        if x.min() < STATE_LOW:
            raise EntropyCodingError("a state fell out of range: the stream is damaged or was coded with another model.")
        slot = x & slot_mask
        coded = slot_symbol[slot]
        out[start:start + active] = coded
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


def _table(frequencies, precision):
    frequencies = np.asarray(frequencies, np.int64)
    if frequencies.ndim != 1 or np.any(frequencies < 0) or int(frequencies.sum()) != 1 << precision:
        raise ValueError(f"Invalid value for argument `frequencies`: expected non-negative integers summing to "
                         f"2 ** {precision}.")
    cumulative = np.concatenate([[0], np.cumsum(frequencies)[:-1]])
    return frequencies.astype(np.uint64), cumulative.astype(np.uint64)
