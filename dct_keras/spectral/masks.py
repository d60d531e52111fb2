"""Coefficient masks: which DCT coefficients of a weight tensor are kept.

A mask is a boolean array of the coefficient tensor's shape, True where the
coefficient is kept (trained) and False where it is switched off (held at
zero, excluded from training). Masks are computed on the host with NumPy, once
per change (at build time, or by a callback between epochs), never per step.

Three policies cover the papers:

* `switch_off_mask`: dct_conv.txt §V-G. Every coefficient gets a random real,
  they are sorted by it and the first ``round(p * n)`` are switched off: an
  exact count, reproducible from a seed. Its ``"tail"`` policy switches off
  the same count from the end of the zigzag order instead (the highest
  frequencies), a structured alternative to sweep against the paper's one.
* `tail_mask` (on `dct_keras.spectral.orders.zigzag_order`): frequency_regularization.txt. Coefficients are
  ordered by the L1 norm of their index vector over the transformed axes (the
  N-D zigzag), ties broken by the flat (row-major) index, an exact integer key;
  a tail mask keeps the first ``kept`` of that order.
* `level_mask`: harmonic_networks.txt. Keeps the frequencies whose index sum
  over the transformed axes is below ``levels`` (the lambda-triangle).

Inside a layer a mask is stored packed, one bit per coefficient
(`pack_mask` / `unpack_mask`): 1/32 of the memory of the float32 coefficients,
instead of a float mask that would double it.
"""

import math
import numbers

import numpy as np
from keras import ops

from dct_keras.spectral.orders import index_level

_BIT_VALUES = (1 << np.arange(8)).astype(np.uint8)
SWITCH_OFF_POLICIES = ("random", "tail")


def switched_off_count(size, p):
    """Number of coefficients switched off among ``size`` for probability ``p``.

    ``round(p * size)`` with halves rounded up, so the count is exact and does
    not depend on floating-point banker's rounding.
    """
    check_probability(p, "switch_off")
    return min(size, int(math.floor(p * size + 0.5)))


def switch_off_mask(shape, p, seed, policy="random", level=None):
    """Exact-count switch-off mask (dct_conv.txt §V-G).

    Args:
        shape: shape of the coefficient tensor.
        p: switch-off probability in [0, 1]; exactly ``round(p * n)`` of the
            ``n`` coefficients are switched off.
        seed: integer seed of the ``"random"`` policy; the same seed and shape
            give the same mask.
        policy: ``"random"`` (the paper: a seeded random subset) or ``"tail"``
            (the last coefficients of the zigzag order, i.e. the highest
            frequencies; deterministic).
        level: the zigzag key of the ``"tail"`` policy, an integer array of
            ``shape`` (e.g. `SpectralTransform.frequency_level`); default: the
            L1 norm of the index over all axes.

    Returns:
        Boolean NumPy array of ``shape``, True where a coefficient is kept.
    """
    if policy not in SWITCH_OFF_POLICIES:
        raise ValueError(
            f"Invalid value for argument `switch_off_policy`: expected one of {SWITCH_OFF_POLICIES}, received {policy!r}."
        )
    size = int(np.prod(shape, dtype=np.int64))
    off = switched_off_count(size, p)
    if policy == "tail":
        return tail_mask(shape, size - off, level=level)
    keys = np.random.default_rng(seed).random(size)
    order = np.argsort(keys, kind="stable")
    mask = np.ones(size, dtype=bool)
    mask[order[:off]] = False
    return mask.reshape(shape)


def tail_mask(shape, kept, axes=None, level=None):
    """Keeps the first ``kept`` coefficients of the zigzag order.

    Computed in O(n) without sorting: every entry below the threshold level,
    then the first entries (in flat order) of the threshold level itself.
    """
    level = (index_level(tuple(shape), axes) if level is None else np.asarray(level)).ravel()
    size = level.size
    if not 0 <= kept <= size:
        raise ValueError(f"`kept` must be in [0, {size}], got {kept}.")
    counts = np.cumsum(np.bincount(level))
    threshold = int(np.searchsorted(counts, kept, side="left"))  # first level whose cumsum reaches kept
    mask = level < threshold
    remaining = kept - int(mask.sum())
    if remaining:
        mask[np.flatnonzero(level == threshold)[:remaining]] = True
    return mask.reshape(shape)


def bounding_extents(mask):
    """Per axis, 1 + the largest index holding a kept entry (at least 1)."""
    mask = np.asarray(mask, dtype=bool)
    extents = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        used = np.flatnonzero(mask.any(axis=other))
        extents.append(int(used[-1]) + 1 if used.size else 1)
    return tuple(extents)


def kept_count(size, fraction, min_kept=0):
    """``max(round(fraction * size), min_kept)``, capped at ``size``."""
    return min(size, max(int(math.floor(fraction * size + 0.5)), int(min_kept)))


def level_mask(shape, levels, axes):
    """Keeps the coefficients whose index sum over ``axes`` is below ``levels``."""
    return index_level(tuple(shape), axes) < levels


def pack_mask(mask):
    """Packs a boolean mask into uint8 bytes, one bit per entry (little-endian)."""
    return np.packbits(np.asarray(mask, dtype=bool).ravel(), bitorder="little")


def unpack_mask(packed, shape, dtype="float32"):
    """Inverse of `pack_mask` with `keras.ops`: a 0/1 tensor of ``shape``
    (True / False with ``dtype="bool"``)."""
    size = int(np.prod(shape, dtype=np.int64))
    values = ops.convert_to_tensor(_BIT_VALUES, dtype="uint8")
    bits = ops.not_equal(ops.bitwise_and(ops.expand_dims(packed, -1), values), 0)
    bits = ops.reshape(bits, (-1,))[:size]
    return ops.reshape(bits if dtype == "bool" else ops.cast(bits, dtype), shape)


def unpack_mask_box(packed, shape, extents, dtype="float32"):
    """The leading ``extents`` box of the mask `pack_mask` packed for
    ``shape``, read bit by bit: the cost follows the box, not the tensor
    (`unpack_mask` of the whole tensor, then a slice, would read it all)."""
    strides = np.cumprod((tuple(shape[1:]) + (1,))[::-1])[::-1]
    index_dtype = "int32" if int(np.prod(shape, dtype=np.int64)) < 2**31 else "int64"
    flat = None
    for axis, (extent, stride) in enumerate(zip(extents, strides)):
        view = [1] * len(shape)
        view[axis] = int(extent)
        index = ops.reshape(ops.arange(int(extent), dtype=index_dtype) * int(stride), view)
        flat = index if flat is None else flat + index
    byte = ops.take(packed, ops.floor_divide(flat, 8))
    bit = ops.bitwise_and(ops.right_shift(byte, ops.cast(ops.mod(flat, 8), "uint8")), ops.convert_to_tensor(1, "uint8"))
    return ops.cast(bit, dtype)


def check_probability(value, name):
    """Raises ValueError unless ``value`` is a real number in [0, 1]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= float(value) <= 1.0
    ):
        raise ValueError(
            f"Invalid value for argument `{name}`: expected a number in "
            f"[0, 1], received {value!r}."
        )
