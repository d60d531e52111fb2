"""Orders over the entries of a coefficient tensor and over sets of vectors.

* `index_level`: the frequency level of every coefficient, the L1 norm of its
  frequency index over the transformed axes (within-block index along blocked
  axes). The zigzag order, the tail masks of FreqReg and the lambda-levels of
  harmonic blocks all read it; `SpectralTransform.frequency_level` is this
  function for its own shape, axes and blocks.
* `zigzag_order`: flat indices sorted by level, ties by the flat row-major
  index (an exact integer key).
* `greedy_order`: the greedy nearest-neighbour ordering of vectors (start at
  the largest norm, then repeatedly the nearest unvisited vector), used to
  make a sequence of columns or frames smooth (reorder_dct_compression.txt
  Alg. 1; CTNet's frame order). Exact, brute force, O(n^2 d).
"""

import numpy as np

DISTANCES = ("euclidean", "cosine")


def index_level(shape, axes=None, block_sizes=None):
    """Per entry of a tensor of ``shape``, the L1 norm of its index over
    ``axes`` (all by default); along an axis of ``block_sizes`` the index
    restarts in every block."""
    shape = tuple(int(d) for d in shape)
    axes = range(len(shape)) if axes is None else [a % len(shape) for a in axes]
    block_sizes = block_sizes or {}
    level = np.zeros(shape, dtype=np.int64)
    for axis in axes:
        index = np.arange(shape[axis])
        if axis in block_sizes:
            index = index % block_sizes[axis]
        view = [1] * len(shape)
        view[axis] = shape[axis]
        level = level + index.reshape(view)
    return level


def zigzag_order(shape, axes=None, level=None):
    """Flat indices of a tensor of ``shape`` in N-D zigzag order.

    The key is ``level`` (default: `index_level` over ``axes``), ties broken by
    the flat row-major index: an exact integer ordering, identical on every
    machine and for tensors of any size.
    """
    level = (index_level(shape, axes) if level is None else np.asarray(level)).ravel()
    return np.lexsort((np.arange(level.size), level))


def greedy_order(vectors, distance="euclidean", method="auto"):
    """Greedy nearest-neighbour order of the rows of ``vectors`` (n x d).

    Starts at the row of largest L2 norm, then repeatedly appends the nearest
    row not yet taken, by squared Euclidean distance or by cosine distance,
    here ``|a/|a| - b/|b||^2 / 2`` (``1 - cos`` for non-zero rows; a zero row
    counts as the origin). Ties go to the lowest row index.

    Args:
        vectors: array of shape (n, d).
        distance: "euclidean" (the paper's choice for small groups) or "cosine".
        method: "brute" (O(n^2 d) NumPy), "kdtree" (exact nearest-unvisited
            search in a k-d tree whose emptied subtrees are skipped, O(n log n)
            for small d; needs numba) or "auto" (kdtree when numba is
            installed and n > 2048, else brute). Both give the same order up to
            floating-point distance ties.

    Returns:
        An int64 permutation of ``range(n)``.
    """
    if distance not in DISTANCES:
        raise ValueError(f"Invalid value for argument `distance`: expected one of {DISTANCES}, received {distance!r}.")
    if method not in ("auto", "brute", "kdtree"):
        raise ValueError(f"Invalid value for argument `method`: expected 'auto', 'brute' or 'kdtree', received {method!r}.")
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.ndim != 2:
        raise ValueError(f"`vectors` must be a 2-D array (n x d), got shape {vectors.shape}.")
    count = len(vectors)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
    start = int(np.argmax(norms))
    if distance == "cosine":
        vectors = np.divide(vectors, norms[:, None], out=np.zeros_like(vectors), where=norms[:, None] > 0)
    if method == "auto":
        method = "kdtree" if count > 2048 and _kdtree_walk() is not None else "brute"
    if method == "kdtree":
        walk = _kdtree_walk()
        if walk is None:
            raise ImportError("greedy_order(method='kdtree') needs numba (pip install numba).")
        return walk(np.ascontiguousarray(vectors), start)
    return _brute_walk(vectors, start)


def _brute_walk(vectors, start):
    count = len(vectors)
    taken = np.zeros(count, dtype=bool)
    order = np.empty(count, dtype=np.int64)
    table = _integer_distance_table(vectors)
    current = start
    for step in range(count):
        order[step] = current
        taken[current] = True
        if step == count - 1:
            break
        if table is None:
            difference = vectors - vectors[current]
            gaps = np.einsum("ij,ij->i", difference, difference)
        else:
            gaps = table[current].copy()
        gaps[taken] = np.inf
        current = int(np.argmin(gaps))  # first minimum: the lowest index on ties
    return order


def _integer_distance_table(vectors, max_entries=1 << 24):
    """All squared distances at once, ``|a|^2 + |b|^2 - 2 a.b`` with one
    matrix product, when that is exact: integer-valued rows (e.g. the pixel
    frames of the H.265 export) whose sums stay below 2^53 are added without
    rounding in float64, so the table equals the row-by-row differences
    bit for bit. None otherwise (or when the n x n table would be too large)."""
    count, dimension = vectors.shape
    if count * count > max_entries or not np.array_equal(vectors, np.rint(vectors)):
        return None
    largest = float(np.abs(vectors).max()) if vectors.size else 0.0
    if 4.0 * largest * largest * dimension >= 2.0 ** 53:
        return None
    squares = np.einsum("ij,ij->i", vectors, vectors)
    return squares[:, None] + squares[None, :] - 2.0 * (vectors @ vectors.T)


_WALK = []


def _kdtree_walk():
    """The numba-compiled k-d tree walk, or None without numba."""
    if not _WALK:
        try:
            from dct_keras.spectral import _greedy_kdtree
        except ImportError:
            _WALK.append(None)
        else:
            _WALK.append(_greedy_kdtree.greedy_walk)
    return _WALK[0]
