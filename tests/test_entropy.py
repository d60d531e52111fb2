"""The NumPy rANS coder against NumPy references: bit-exact round trips,
sizes against the model's information content, the table rule by brute
force, damaged streams refused, and no framework needed."""

import subprocess
import sys

import numpy as np
import pytest

from dct_keras import entropy
from dct_keras.entropy import (EntropyCodingError, decode, encode, escape, frequency_table, information_bits, lanes_for,
                               logistic_table, logistic_tables, unescape)
from tests.paths import ROOT


def _table_by_hand(p, precision):
    """The documented rule, one symbol at a time in plain Python."""
    total = 1 << precision
    scaled = [x / sum(p) * total for x in p]
    freq = [max(int(s // 1), 1) if x > 0 else 0 for s, x in zip(scaled, p)]
    left = total - sum(freq)
    if left > 0:
        ranked = sorted((i for i, x in enumerate(p) if x > 0), key=lambda i: (-(scaled[i] - int(scaled[i] // 1)), i))
        for i in ranked[:left]:
            freq[i] += 1
    while left < 0:
        i = max(range(len(freq)), key=lambda k: (freq[k], -k))
        freq[i] -= 1
        left += 1
    return freq


@pytest.mark.parametrize("p,precision", [([1, 2, 3], 8), ([0.97, 0.01, 0.01, 0.005, 0.005], 12), ([1e-9, 1, 0, 5e-7], 10),
                                         (list(np.random.default_rng(3).random(40)), 14), ([1] * 16, 4)])
def test_the_frequency_table_follows_its_rule(p, precision):
    table = frequency_table(p, precision)
    assert table.tolist() == _table_by_hand(p, precision)
    assert table.sum() == 1 << precision and np.all((table > 0) == (np.asarray(p) > 0))


def test_bad_tables_are_refused():
    for p in ([], [-1, 2], [0, 0], [np.nan, 1]):
        with pytest.raises(ValueError, match="probabilities"):
            frequency_table(p)
    with pytest.raises(ValueError, match="raise `precision`"):
        frequency_table([1] * 17, 4)
    with pytest.raises(ValueError, match="escape"):
        encode([0, 2], [8, 8, 0], 4)


@pytest.mark.parametrize("count", [0, 1, 2, 5, 65535, 65536, 65537, 3 * 65536 + 11])
def test_round_trips_are_bit_exact_at_every_lane_boundary(count):
    rng = np.random.default_rng(count)
    probabilities = rng.random(9) ** 3
    table = frequency_table(probabilities, 12)
    symbols = rng.choice(9, count, p=table / table.sum())
    stream = encode(symbols, table, 12)
    np.testing.assert_array_equal(decode(stream, count, table, 12), symbols)
    assert len(stream) >= 4 * lanes_for(count)


def test_the_size_is_the_models_information_content():
    # A LeNet-5-sized stream of quantized weights: 97 % zeros, the rest Laplace-shaped in [-7, 7].
    rng = np.random.default_rng(0)
    values = np.clip(np.round(rng.laplace(0, 1.5, 431_080)), -7, 7).astype(int)
    values[rng.random(len(values)) < 0.97] = 0
    symbols = values + 7
    counts = np.bincount(symbols, minlength=15)
    table = frequency_table(counts, 14)
    predicted = information_bits(symbols, table, 14) / 8
    reference = -np.sum(counts[counts > 0] * np.log2(table[counts > 0] / 2**14)) / 8  # NumPy, per symbol
    assert predicted == pytest.approx(reference, rel=1e-12)
    entropy = -np.sum(counts[counts > 0] * np.log2(counts[counts > 0] / len(symbols))) / 8
    assert predicted <= entropy * 1.001  # a 14-bit table loses next to nothing
    size = len(encode(symbols, table, 14))
    assert predicted <= size <= predicted * 1.005 + 4 * lanes_for(len(symbols)) + 2


def test_damaged_or_mismatched_streams_are_refused():
    rng = np.random.default_rng(1)
    table = frequency_table([5, 3, 1, 1], 10)
    symbols = rng.choice(4, 5000, p=table / table.sum())
    stream = bytearray(encode(symbols, table, 10))
    with pytest.raises(EntropyCodingError):
        decode(bytes(stream[:-2]), 5000, table, 10)  # truncated
    with pytest.raises(EntropyCodingError):
        decode(bytes(stream), 5000, frequency_table([1, 1, 1, 1], 10), 10)  # another model
    stream[1] ^= 0x10  # a flipped bit in a final state
    with pytest.raises(EntropyCodingError):
        decode(bytes(stream), 5000, table, 10)


def test_the_coder_needs_no_framework():
    code = (
        "import sys\n"
        "sys.modules['keras'] = None; sys.modules['tensorflow'] = None; sys.modules['jax'] = None; sys.modules['torch'] = None\n"
        f"sys.path.insert(0, {ROOT!r})\n"
        "import numpy as np\n"
        "from dct_keras.entropy import decode, encode, frequency_table\n"
        "s = np.random.default_rng(0).integers(0, 5, 70000); t = frequency_table(np.bincount(s), 12)\n"
        "assert (decode(encode(s, t, 12), len(s), t, 12) == s).all()\n"
        "assert not any(sys.modules.get(m) for m in ('keras', 'tensorflow', 'jax', 'torch'))\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={"DCT_KERAS_DEFER_IMPORTS": "1", "PATH": ""})
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


@pytest.mark.parametrize("scale", [2.0 ** -8, 0.05, 0.4, 1.0, 3.7, 25.0])
@pytest.mark.parametrize("precision,zero_mass", [(12, 0.0), (16, 0.0), (16, 0.9), (14, 0.2)])
def test_the_logistic_table_is_the_rule_on_scipys_discretized_logistic(scale, precision, zero_mass):
    import scipy.stats

    logit = None if zero_mass == 0 else np.log(zero_mass / (1 - zero_mass))
    radius, frequencies = logistic_table(scale, precision, logit)
    cdf = scipy.stats.logistic(scale=scale).cdf
    tails = 2 * cdf(-(radius + 0.5))
    assert tails <= 2.0 ** -precision and (radius == 0 or 2 * cdf(-(radius - 0.5)) > 2.0 ** -precision)
    k = np.arange(-radius, radius + 1)
    expected = (1 - zero_mass) * np.array(list(cdf(k + 0.5) - cdf(k - 0.5)) + [tails])
    expected[radius] += zero_mass
    assert frequencies.tolist() == _table_by_hand(list(expected), precision)


def test_several_tables_code_one_stream_and_escapes_round_trip():
    rng = np.random.default_rng(4)
    scales = [0.01, 0.3, 2.0, 9.0]
    radii, tables = logistic_tables(scales, 14, [-4.0, 0.0, 2.0, 5.0])
    rows = rng.integers(0, len(scales), 30000)
    values = np.round(rng.logistic(0, np.asarray(scales)[rows] * 1.5)).astype(np.int64)  # wider than the priors
    symbols, escaped = escape(values, radii[rows])
    assert len(escaped) > 0 and (np.abs(escaped) > radii[rows][np.abs(values) > radii[rows]]).all()
    stream = encode(symbols, tables, 14, tables=rows)
    decoded = decode(stream, len(symbols), tables, 14, tables=rows)
    np.testing.assert_array_equal(unescape(decoded, radii[rows], escaped), values)
    expected_bits = sum(information_bits(symbols[rows == r], tables[r], 14) for r in range(len(scales)))
    assert 8 * len(stream) <= expected_bits * 1.01 + 64
    with pytest.raises(EntropyCodingError):
        decode(stream, len(symbols), tables, 14, tables=np.roll(rows, 1))  # another assignment of tables
    with pytest.raises(ValueError, match="tables"):
        encode(symbols, tables, 14)


def test_priors_take_a_byte_each_within_half_a_level():
    rng = np.random.default_rng(0)
    scales = 2.0 ** rng.uniform(-8, 7.9, 1000)
    logits = rng.uniform(-16, 15.9, 1000)
    scale_bytes, logit_bytes = entropy.pack_priors(scales, logits)
    assert scale_bytes.dtype == logit_bytes.dtype == np.uint8
    again_scales, again_logits = entropy.unpack_priors(scale_bytes, logit_bytes)
    np.testing.assert_allclose(np.log2(again_scales), np.log2(scales), atol=1 / 32 + 1e-12)
    np.testing.assert_allclose(again_logits, logits, atol=1 / 16 + 1e-12)
    # Out of range: clipped to the ends (only the coding cost moves; values beyond a table escape).
    ends = entropy.pack_priors([2.0 ** -12, 2.0 ** 12], [-40.0, 40.0])
    assert ends[0].tolist() == [0, 255] and ends[1].tolist() == [0, 255]
    np.testing.assert_array_equal(entropy.pack_priors(*entropy.unpack_priors(scale_bytes, logit_bytes))[0], scale_bytes)


def test_the_conditional_spike_keeps_the_expected_count_of_codes_outside_it():
    # A group of n codes loses n - n_inside zeros: the codes outside the spike, n (1 - m) in
    # expectation, are the same codes among n_inside, so 1 - m' = (1 - m) n / n_inside.
    logits = np.array([-3.0, 0.0, 2.5, 6.0, 12.0])
    n, n_inside = 40_000, 1_000
    again = entropy.conditional_zero_logits(logits, n / n_inside)
    outside = 1 / (1 + np.exp(logits))
    np.testing.assert_allclose(n_inside / (1 + np.exp(again)), np.minimum(n * outside, n_inside * (1 - 2.0 ** -20)),
                               rtol=1e-9)
    np.testing.assert_allclose(entropy.conditional_zero_logits(logits, 1.0), logits, rtol=1e-9, atol=1e-9)
