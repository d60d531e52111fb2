"""Orthonormal DCT-II bases and the N-D spectral transform built from them.

Every layer of dct_keras stores a weight as DCT coefficients and rebuilds the
spatial weight with the transform defined here; nothing else in the package
computes a DCT.

Normalization. dct_conv.txt eq. (1)-(2) print the DCT-II and its inverse
without scale factors, and as printed they are not an exact inverse pair. We use
the *orthonormal* DCT-II (scipy's ``norm="ortho"``): the basis matrix ``C`` is
orthogonal, the inverse is ``C.T``, so

* the forward DCT of a trained kernel gives coefficients whose inverse
  reproduces that kernel exactly (needed by ``convert(keep_weights=True)``);
* ``sum(coefficients ** 2) == sum(kernel ** 2)``, so an L2 penalty on the
  coefficients equals the same penalty on the filters;
* an orthogonal initializer on the coefficients stays orthogonal on the filters.

A transform acts on chosen axes of a tensor. An axis is transformed whole, or in
consecutive blocks of a fixed length (dct_conv.txt §IV-A: 1x1 filters are
transformed over sub-rows of 16 input channels); when the length is not a
multiple of the block, the last, shorter block gets its own orthonormal DCT of
that length, so the transform stays orthogonal and exactly invertible.
"""

import functools
import math

import keras
import numpy as np
from keras import ops

from dct_keras.spectral.orders import index_level


def dct_matrix(n):
    """Orthonormal DCT-II matrix of size ``n x n`` (float64 NumPy array).

    Row ``k`` is the ``k``-th cosine basis vector:
    ``C[k, i] = s_k * cos(pi * (2 i + 1) * k / (2 n))`` with
    ``s_0 = sqrt(1 / n)`` and ``s_k = sqrt(2 / n)`` otherwise, so that
    ``C @ x`` equals ``scipy.fft.dct(x, norm="ortho")`` and ``C.T @ X`` its
    inverse.
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"DCT length must be a positive integer, got {n}.")
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    basis = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    basis[0] /= math.sqrt(2.0)
    return basis


@functools.lru_cache(maxsize=None)
def _shared_kron_dct(lengths):
    """The Kronecker product of the DCT matrices of ``lengths`` (a tuple),
    made once per process and read-only: every factor of that length shares
    it (a FreqReg ResNet-18 held 41 MiB of identical float64 bases, one set
    per layer, before)."""
    matrix = np.ones((1, 1))
    for n in lengths:
        matrix = np.kron(matrix, dct_matrix(n))
    matrix.flags.writeable = False
    return matrix


class _Factor:
    """One step of a transform: a square matrix applied along a run of axes.

    ``axes`` are consecutive axes merged into one (their Kronecker-product basis
    is applied with a single matmul). ``block`` splits the merged axis into
    consecutive blocks of that length, each transformed with ``matrix``; a
    shorter final block uses ``tail_matrix``. ``rows < length`` (one unblocked
    axis) makes the inverse read only the first ``rows`` coefficients: the
    others are known to be zero, and the cost shrinks in proportion.
    """

    def __init__(self, axes, lengths, block=None, rows=None):
        self.axes = tuple(axes)
        self.lengths = tuple(lengths)
        self.length = int(np.prod(lengths))
        self.rows = self.length if rows is None else rows
        self.block = block if block is not None and block < self.length else None
        self.constants = _Constants()
        if self.block is None:
            self.matrix = _shared_kron_dct(self.lengths)
            self.tail_matrix = None
        else:
            self.matrix = _shared_kron_dct((self.block,))
            remainder = self.length % self.block
            self.tail_matrix = _shared_kron_dct((remainder,)) if remainder else None

    @property
    def growth(self):
        return self.length / self.rows

    def apply(self, x, inverse):
        """Applies the factor to ``x`` along its axes, without moving them:
        ``x`` viewed as ``(before, rows, after)`` (a free reshape), one
        (batched) matmul, viewed back. No transpose of the tensor is made,
        forward or backward (they cost more than the matmuls on a CPU)."""
        shape = tuple(x.shape)
        first, last = self.axes[0], self.axes[-1]
        before = int(np.prod(shape[:first], dtype=np.int64))
        after = int(np.prod(shape[last + 1:], dtype=np.int64))
        y = self._apply_3d(ops.reshape(x, (before, self.rows, after)), inverse)
        return ops.reshape(y, shape[:first] + self.lengths + shape[last + 1:])

    def apply_last(self, x, inverse):
        """The factor along the last axis of ``x``, whatever its leading
        shape (known or not): the forward DCT keeps the first ``rows``
        coefficients, the inverse reads ``rows`` and gives the whole axis.
        (Applied to activations: `SpectralTransform.channel_factor`.)"""
        lead = ops.shape(x)[:-1]
        flat = ops.reshape(x, (-1, self.rows if inverse else self.length))
        if self.block is None:
            y = _matmul_right(self.constants, "matrix", self.matrix[: self.rows], flat, inverse)
        else:
            whole = (self.length // self.block) * self.block
            head = flat if whole == self.length else flat[:, :whole]
            head = _matmul_right(self.constants, "matrix", self.matrix, ops.reshape(head, (-1, self.block)), inverse)
            y = ops.reshape(head, (-1, whole))
            if self.tail_matrix is not None:
                y = ops.concatenate([y, _matmul_right(self.constants, "tail", self.tail_matrix, flat[:, whole:], inverse)], axis=1)
        return ops.reshape(y, tuple(lead) + (y.shape[-1],))

    def _apply_3d(self, x, inverse):
        if self.block is None:
            return _matmul_along(self.constants, "matrix", self.matrix[: self.rows], x, inverse)
        block = self.block
        before, length, after = x.shape
        whole = (length // block) * block
        head = x if whole == length else x[:, :whole]
        head = _matmul_along(self.constants, "matrix", self.matrix, ops.reshape(head, (before * (length // block), block, after)), inverse)
        head = ops.reshape(head, (before, whole, after))
        if self.tail_matrix is None:
            return head
        tail = _matmul_along(self.constants, "tail", self.tail_matrix, x[:, whole:], inverse)
        return ops.concatenate([head, tail], axis=1)


def _matmul_right(constants, name, matrix, x, inverse):
    """``x @ C`` (inverse: ``x`` holds the first rows of coefficients) or
    ``x @ C.T`` (forward: the first rows of coefficients) for a 2-D ``x``."""
    basis_t = constants.get((name, "right", inverse), lambda: matrix if inverse else matrix.T, x.dtype)
    return ops.matmul(x, basis_t)


def _matmul_along(constants, name, matrix, x, inverse):
    """``C.T`` (inverse; ``matrix`` may hold only the first rows of the basis)
    or ``C`` (forward) applied along the middle axis of ``x`` (b, n, a), in
    the dtype of ``x``: one matmul, batched only when both b and a exceed 1.
    ``constants`` holds the basis tensors under ``name``."""
    batch, _, after = x.shape
    if after == 1:  # the last axis: x @ basis.T, no batching
        basis_t = constants.get((name, "right", inverse), lambda: matrix if inverse else matrix.T, x.dtype)
        y = ops.matmul(ops.reshape(x, (batch, -1)), basis_t)
        return ops.reshape(y, (batch, basis_t.shape[1], 1))
    basis = constants.get((name, "left", inverse), lambda: matrix.T if inverse else matrix, x.dtype)
    if batch == 1:  # the first axis: basis @ x
        return ops.reshape(ops.matmul(basis, ops.reshape(x, (x.shape[1], after))), (1, basis.shape[0], after))
    return ops.matmul(ops.expand_dims(basis, 0), x)


class _Constants:
    """Backend tensors of a factor's host-side (NumPy) constants, made once
    per key and dtype.

    Under TensorFlow each is made outside any trace (``tf.init_scope``), so a
    traced train step captures it by reference: converted inside the trace,
    every basis matrix is embedded in the graph and copied by each graph pass
    (for a FreqReg ResNet-18, whose 512 x 512 bases are 1 MB each, that cost
    about 200 MiB of process peak memory). JAX turns a converted array into a
    trace constant by itself and PyTorch has no trace: there the tensor is
    made at each call.
    """

    def __init__(self):
        self._tensors = {}

    def get(self, key, make, dtype):
        """The tensor of ``make()`` (a NumPy array) in ``dtype``."""
        if keras.backend.backend() != "tensorflow":
            return ops.convert_to_tensor(np.ascontiguousarray(make()), dtype=dtype)
        key = key + (str(dtype),)
        if key not in self._tensors:
            import tensorflow as tf

            with tf.init_scope():
                self._tensors[key] = ops.convert_to_tensor(np.ascontiguousarray(make()), dtype=dtype)
        return self._tensors[key]


# Largest merged axis length of a Kronecker factor (its matrix is length^2).
_MAX_MERGED = 256
# From this length on an unblocked axis is transformed by FFT (O(n log n), no
# basis matrix: a 512 x 512 float32 matrix is 1 MB, a 4096 one 64 MB).
FFT_MIN_LENGTH = 1024


class _FFTFactor:
    """The orthonormal DCT-II along one long axis by FFT (Makhoul 1980).

    Forward: ``v = x`` reordered (even entries, then the odd ones reversed),
    ``X_k = Re(exp(-i pi k / 2N) FFT(v)_k)``, scaled to orthonormal. Inverse:
    the half spectrum ``exp(i pi k / 2N) (X_k - i X_{N-k})`` through an
    inverse real FFT gives ``v`` back. With ``rows < length`` the inverse reads
    only the first ``rows`` coefficients (the others are zero) and pads them.
    Host-side constants only (O(N)); `keras.ops` FFTs, differentiable on every
    backend.
    """

    def __init__(self, axis, length, rows=None):
        self.axes = (axis,)
        self.length = n = int(length)
        self.rows = n if rows is None else int(rows)
        half = n // 2 + 1
        k = np.arange(n)
        self.cos, self.sin = np.cos(np.pi * k / (2 * n)), np.sin(np.pi * k / (2 * n))
        self.half_cos, self.half_sin = self.cos[:half], self.sin[:half]
        self.scale = np.full(n, math.sqrt(2.0 / n))
        self.scale[0] = math.sqrt(1.0 / n)
        evens = np.arange(0, n, 2)
        odds = np.arange(1, n, 2)[::-1]
        self.permutation = np.concatenate([evens, odds]).astype("int32")
        self.unscramble = np.argsort(self.permutation).astype("int32")
        self.half = half
        self.mirror = (n - np.arange(1, half)).astype("int32")  # X_{N-k}, k = 1 .. half-1
        self.constants = _Constants()

    @property
    def growth(self):
        return self.length / self.rows

    def _constant(self, name, dtype):
        return self.constants.get((name,), lambda: np.asarray(getattr(self, name), dtype="float64"), dtype)

    def _index(self, name):
        return self.constants.get((name,), lambda: getattr(self, name), "int32")

    def apply(self, x, inverse):
        axis = self.axes[0]
        last = len(x.shape) - 1
        if axis != last:
            x = ops.moveaxis(x, axis, last)
        y = self._inverse(x) if inverse else self._forward(x)
        return ops.moveaxis(y, last, axis) if axis != last else y

    def _forward(self, x):
        dtype = x.dtype
        v = ops.take(x, self._index("permutation"), axis=-1)
        real, imag = ops.fft((v, ops.zeros_like(v)))
        coefficients = real * self._constant("cos", dtype) + imag * self._constant("sin", dtype)
        return coefficients * self._constant("scale", dtype)

    def _inverse(self, coefficients):
        dtype = coefficients.dtype
        n, rows = self.length, coefficients.shape[-1]
        if rows < n:
            pad = [(0, 0)] * (len(coefficients.shape) - 1) + [(0, n - rows)]
            coefficients = ops.pad(coefficients, pad)
        x = coefficients / self._constant("scale", dtype)
        head = x[..., : self.half]
        mirrored = ops.take(x, self._index("mirror"), axis=-1)
        mirrored = ops.concatenate([ops.zeros_like(x[..., :1]), mirrored], axis=-1)
        cos, sin = self._constant("half_cos", dtype), self._constant("half_sin", dtype)
        v = ops.irfft((cos * head + sin * mirrored, sin * head - cos * mirrored), fft_length=n)
        return ops.take(v, self._index("unscramble"), axis=-1)


class SpectralTransform:
    """Orthonormal N-D DCT-II over chosen axes of tensors of one shape.

    The bases are computed once, at construction (host side, NumPy); `forward`
    and `inverse` use `keras.ops` only, so they run on every Keras backend and
    are differentiable.

    Args:
        shape: shape of the tensors to transform.
        axes: axes to transform (negative values count from the end). An empty
            tuple gives the identity.
        block_sizes: optional dict ``{axis: block}``: that axis is transformed
            in consecutive blocks of ``block`` entries (a shorter remainder
            block gets its own DCT). Axes not listed are transformed whole.

    Example:

    >>> import scipy.fft
    >>> coefficients = np.random.default_rng(0).standard_normal((3, 3, 8, 4)).astype("float32")
    >>> t = SpectralTransform((3, 3, 8, 4), axes=(0, 1))
    >>> kernel = keras.ops.convert_to_numpy(t.inverse(coefficients))
    >>> bool(np.allclose(kernel, scipy.fft.idctn(coefficients, axes=(0, 1), norm="ortho"), atol=1e-5))
    True
    """

    def __init__(self, shape, axes, block_sizes=None):
        self.shape = tuple(int(d) for d in shape)
        rank = len(self.shape)
        normalized = []
        for axis in axes:
            if not -rank <= axis < rank:
                raise ValueError(
                    f"Invalid value for argument `axes`: axis {axis} is out of "
                    f"range for a tensor of rank {rank}."
                )
            normalized.append(axis % rank)
        if len(set(normalized)) != len(normalized):
            raise ValueError(f"Invalid value for argument `axes`: repeated axis in {tuple(axes)}.")
        self.axes = tuple(sorted(normalized))
        blocks = {a % rank: b for a, b in (block_sizes or {}).items()}
        for axis, block in blocks.items():
            if axis not in self.axes:
                raise ValueError(f"`block_sizes` names axis {axis}, which is not transformed.")
            if int(block) < 1:
                raise ValueError(f"Block sizes must be positive integers, got {block}.")
        self.block_sizes = blocks
        self._plans = {}
        self._factors = self._plan(self.shape)

    def _plan(self, extents):
        """Factors for coefficients known to be zero outside ``extents``.

        Consecutive, unblocked, untruncated axes are merged into one Kronecker
        factor while the merged length stays <= 256 (e.g. a 3x3 kernel's two
        spatial axes: one 9x9 matmul); a truncated axis gets its own factor reading ``extent`` rows.
        Factors that grow the tensor least run first.
        """
        factors, run = [], []

        def close_run():
            if run:
                factors.append(_Factor(run, [self.shape[a] for a in run]))
                run.clear()

        for axis in self.axes:
            size = self.shape[axis]
            if size == 1:
                continue  # the DCT of length 1 is the identity
            if axis in self.block_sizes:
                close_run()
                factors.append(_Factor([axis], [size], self.block_sizes[axis]))
            elif size >= FFT_MIN_LENGTH:
                close_run()
                factors.append(_FFTFactor(axis, size, rows=extents[axis]))
            elif extents[axis] < size:
                close_run()
                factors.append(_Factor([axis], [size], rows=extents[axis]))
            else:
                merged = size * int(np.prod([self.shape[a] for a in run]))
                if run and (axis != run[-1] + 1 or merged > _MAX_MERGED):
                    close_run()
                run.append(axis)
        close_run()
        return sorted(factors, key=lambda f: f.growth)

    def channel_factor(self, axis, extent):
        """This transform's DCT of ``axis``, reading its first ``extent``
        coefficients, as a factor to apply to the last axis of another tensor
        (`_Factor.apply_last`): moved onto a layer's activations, it gives
        the same outputs as inside the kernel (see `without`)."""
        key = ("channel", axis, extent)
        if key not in self._plans:
            self._plans[key] = _Factor([0], [self.shape[axis]], self.block_sizes.get(axis), rows=extent)
        return self._plans[key]

    def without(self, axes, extents):
        """This transform less ``axes``, for coefficients of the leading box
        ``extents``: those axes keep their (cut) coefficients untransformed,
        so ``inverse(C) == channel inverses of without(axes).inverse(C)``."""
        key = ("without", tuple(axes), tuple(extents))
        if key not in self._plans:
            shape = tuple(e if a in axes else n for a, (e, n) in enumerate(zip(extents, self.shape)))
            self._plans[key] = SpectralTransform(shape, [a for a in self.axes if a not in axes],
                                                 {a: b for a, b in self.block_sizes.items() if a not in axes})
        return self._plans[key]

    def truncatable_axes(self):
        """Axes along which `inverse` can skip trailing zero coefficients."""
        return tuple(a for a in self.axes if a not in self.block_sizes and self.shape[a] > 1)

    @property
    def is_identity(self):
        return not self._factors

    def inverse(self, coefficients, extents=None):
        """Spatial tensor from DCT coefficients (IDCT over the axes).

        Args:
            coefficients: tensor of the transform's shape or, with ``extents``,
                only its leading box of that shape (the coefficients outside it
                being zero, e.g. beyond the bounding box of a zigzag tail mask).
                Along `truncatable_axes` the bases are then cut to the box, so
                the cost follows the kept block.
            extents: per-axis sizes of that box; axes outside
                `truncatable_axes` must keep their full size.
        """
        extents = self.shape if extents is None else tuple(int(e) for e in extents)
        coefficients = self._check_shape(coefficients, extents)
        if extents == self.shape:
            factors = self._factors
        else:
            if any(e != n for a, (e, n) in enumerate(zip(extents, self.shape)) if a not in self.truncatable_axes()):
                raise ValueError(f"`extents` {extents} may only cut axes {self.truncatable_axes()} of {self.shape}.")
            if extents not in self._plans:
                self._plans[extents] = self._plan(extents)
            factors = self._plans[extents]
        for factor in factors:
            coefficients = factor.apply(coefficients, inverse=True)
        return coefficients

    def forward(self, x):
        """DCT coefficients of a spatial tensor (DCT over the axes)."""
        x = self._check_shape(x)
        for factor in self._factors:
            x = factor.apply(x, inverse=False)
        return x

    def frequency_level(self):
        """Per entry, the L1 norm of its frequency index over the transformed
        axes (within-block index along blocked axes): the zigzag key."""
        return index_level(self.shape, self.axes, self.block_sizes)

    def _check_shape(self, x, expected=None):
        x = ops.convert_to_tensor(x)
        expected = self.shape if expected is None else expected
        if tuple(x.shape) != expected:
            raise ValueError(
                f"SpectralTransform for shape {self.shape} expected a tensor of "
                f"shape {expected}, received {tuple(x.shape)}."
            )
        return x


def dctn(x, axes=None):
    """Orthonormal N-D DCT-II of ``x`` over ``axes`` (all axes by default).

    Equal to ``scipy.fft.dctn(x, axes=axes, norm="ortho")``.
    """
    x = ops.convert_to_tensor(x)
    axes = range(len(x.shape)) if axes is None else axes
    return SpectralTransform(x.shape, tuple(axes)).forward(x)


def idctn(coefficients, axes=None):
    """Orthonormal N-D inverse DCT-II over ``axes`` (all axes by default).

    Equal to ``scipy.fft.idctn(coefficients, axes=axes, norm="ortho")``.
    """
    coefficients = ops.convert_to_tensor(coefficients)
    axes = range(len(coefficients.shape)) if axes is None else axes
    return SpectralTransform(coefficients.shape, tuple(axes)).inverse(coefficients)
