import itertools

import numpy as np
import pytest
from keras import ops

from dct_keras.spectral import (
    level_mask,
    pack_mask,
    switch_off_mask,
    switched_off_count,
    tail_mask,
    unpack_mask,
    zigzag_order,
)

SHAPES = [(3, 3, 3, 64), (1, 1, 37, 5), (7,), (2, 5, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("p", [0.0, 0.3, 0.9, 0.999, 1.0])
def test_switch_off_count_is_exact(shape, p):
    mask = switch_off_mask(shape, p, seed=7)
    size = int(np.prod(shape))
    assert mask.shape == shape and mask.dtype == bool
    assert size - int(mask.sum()) == int(np.floor(p * size + 0.5))


def test_switched_off_count_rounds_half_up():
    assert switched_off_count(9, 0.5) == 5
    assert switched_off_count(10, 0.25) == 3
    assert switched_off_count(1000, 0.999) == 999
    assert switched_off_count(1000, 1.0) == 1000


def test_switch_off_is_reproducible_from_seed():
    a = switch_off_mask((3, 3, 16, 8), 0.5, seed=1)
    b = switch_off_mask((3, 3, 16, 8), 0.5, seed=1)
    c = switch_off_mask((3, 3, 16, 8), 0.5, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_switch_off_follows_the_sorted_random_reals():
    # §V-G: assign random reals, sort, switch off the first round(p n).
    keys = np.random.default_rng(3).random(20)
    mask = switch_off_mask((4, 5), 0.3, seed=3).ravel()
    np.testing.assert_array_equal(np.flatnonzero(~mask), np.sort(np.argsort(keys)[:6]))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "0.5", None, True])
def test_bad_probability_is_rejected(p):
    with pytest.raises(ValueError, match=r"switch_off.*\[0, 1\]"):
        switch_off_mask((3, 3), p, seed=0)


def _brute_force_zigzag(shape, axes):
    indices = list(itertools.product(*[range(n) for n in shape]))
    keyed = [(sum(idx[a] for a in axes), flat) for flat, idx in enumerate(indices)]
    return [flat for _, flat in sorted(keyed)]


@pytest.mark.parametrize(
    "shape,axes", [((4, 4), (0, 1)), ((3, 3, 2, 5), (0, 1, 2, 3)), ((3, 3, 4), (0, 1)), ((6,), (0,))]
)
def test_zigzag_order_equals_brute_force_sort(shape, axes):
    assert list(zigzag_order(shape, axes)) == _brute_force_zigzag(shape, axes)


def test_zigzag_order_is_deterministic_on_large_tensors():
    shape = (3, 3, 256, 256)
    order = zigzag_order(shape)
    assert np.array_equal(order, zigzag_order(shape))
    level = np.indices(shape).sum(axis=0).ravel()[order]
    assert np.all(np.diff(level) >= 0)
    ties = np.diff(level) == 0
    assert np.all(np.diff(order)[ties] > 0)  # ties in flat-index order


def test_tail_mask_keeps_the_zigzag_prefix():
    mask = tail_mask((4, 4), 6)
    expected = np.zeros(16, bool)
    expected[[0, 1, 4, 2, 5, 8]] = True
    np.testing.assert_array_equal(mask.ravel(), expected)
    with pytest.raises(ValueError):
        tail_mask((4, 4), 17)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("p", [0.0, 0.3, 0.9, 1.0])
def test_tail_switch_off_drops_the_highest_frequencies(shape, p):
    mask = switch_off_mask(shape, p, seed=0, policy="tail")
    n = int(np.prod(shape))
    off = switched_off_count(n, p)
    assert n - int(mask.sum()) == off
    kept_in_order = mask.ravel()[zigzag_order(shape)]
    assert np.all(kept_in_order[: n - off]) and not np.any(kept_in_order[n - off:])
    np.testing.assert_array_equal(mask, switch_off_mask(shape, p, seed=99, policy="tail"))  # no randomness


def test_tail_switch_off_follows_the_given_level():
    level = np.array([[0, 0, 0], [1, 1, 1]])  # e.g. a transform over the first axis only
    mask = switch_off_mask((2, 3), 0.5, seed=0, policy="tail", level=level)
    np.testing.assert_array_equal(mask, [[True, True, True], [False, False, False]])


def test_unknown_switch_off_policy_is_rejected():
    with pytest.raises(ValueError, match=r"`switch_off_policy`.*random.*tail"):
        switch_off_mask((3, 3), 0.5, seed=0, policy="lowpass")


@pytest.mark.parametrize("levels,kept", [(1, 1), (2, 3), (3, 6), (4, 8), (5, 9), (9, 9)])
def test_level_mask_counts_for_3x3(levels, kept):
    mask = level_mask((3, 3, 4, 2), levels, axes=(0, 1))
    assert int(mask[:, :, 0, 0].sum()) == kept
    assert int(mask.sum()) == kept * 8


@pytest.mark.parametrize("shape", SHAPES)
def test_pack_unpack_round_trip(shape):
    mask = switch_off_mask(shape, 0.5, seed=11)
    packed = pack_mask(mask)
    assert packed.dtype == np.uint8 and packed.size == -(-mask.size // 8)
    unpacked = ops.convert_to_numpy(unpack_mask(ops.convert_to_tensor(packed), shape))
    np.testing.assert_array_equal(unpacked, mask.astype("float32"))


def _brute_force_greedy(vectors, distance):
    """Alg. 1 written out literally, with Python loops."""
    vectors = np.asarray(vectors, dtype=np.float64)
    n = len(vectors)

    def dist(a, b):
        if distance == "euclidean":
            return float(((a - b) ** 2).sum())
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        return 1.0 if na == 0 or nb == 0 else 1.0 - float(a @ b) / (na * nb)

    start = max(range(n), key=lambda i: (np.linalg.norm(vectors[i]), -i))
    order, left = [start], set(range(n)) - {start}
    while left:
        last = vectors[order[-1]]
        nearest = min(sorted(left), key=lambda j: dist(last, vectors[j]))
        order.append(nearest)
        left.remove(nearest)
    return order


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
@pytest.mark.parametrize("n,d", [(1, 3), (7, 1), (30, 4), (50, 16)])
def test_greedy_order_matches_brute_force(distance, n, d):
    from dct_keras.spectral import greedy_order

    rng = np.random.default_rng(n * 100 + d)
    vectors = rng.normal(size=(n, d))
    assert greedy_order(vectors, distance).tolist() == _brute_force_greedy(vectors, distance)


def test_greedy_order_ties_go_to_the_lowest_index():
    from dct_keras.spectral import greedy_order

    vectors = np.array([[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [1.0, 0.0]])
    order = greedy_order(vectors)
    assert order.tolist() == _brute_force_greedy(vectors, "euclidean") == [3, 0, 1, 4, 2]
    with pytest.raises(ValueError, match="distance"):
        greedy_order(vectors, "manhattan")


def test_frequency_level_is_index_level_with_blocks():
    from dct_keras.spectral import SpectralTransform, index_level

    transform = SpectralTransform((3, 3, 20, 4), (0, 1, 2), {2: 16})
    np.testing.assert_array_equal(transform.frequency_level(), index_level((3, 3, 20, 4), (0, 1, 2), {2: 16}))


@pytest.mark.parametrize("levels", [2, 256, 4096])
def test_greedy_order_on_integer_frames_uses_an_exact_distance_table(levels):
    from dct_keras.spectral import greedy_order
    from dct_keras.spectral.orders import _integer_distance_table

    vectors = np.random.default_rng(levels).integers(0, levels, (40, 300)).astype(np.float64)
    vectors[7] = vectors[3]  # exact ties
    table = _integer_distance_table(vectors)
    assert table is not None
    np.testing.assert_array_equal(table[5], ((vectors - vectors[5]) ** 2).sum(axis=1))
    assert greedy_order(vectors).tolist() == _brute_force_greedy(vectors, "euclidean")
    assert _integer_distance_table(vectors + 0.5) is None  # not integers: the row-by-row path


@pytest.mark.parametrize("shape,extents", [((3, 3, 20, 30), (3, 2, 7, 11)), ((13,), (5,)), ((4, 17), (1, 17))])
def test_unpack_mask_box_reads_the_leading_box(shape, extents):
    from dct_keras.spectral.masks import unpack_mask_box

    mask = switch_off_mask(shape, 0.4, seed=5)
    box = ops.convert_to_numpy(unpack_mask_box(ops.convert_to_tensor(pack_mask(mask)), shape, extents))
    np.testing.assert_array_equal(box, mask[tuple(slice(0, e) for e in extents)].astype("float32"))
