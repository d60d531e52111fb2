"""The weights of the spectral core: `SpectralWeight` (masked DCT coefficients)
and `ReorderedWeight` (reorder-DCT's truncated rows of a reordered matrix)."""

import time

import numpy as np
from keras import constraints, ops, regularizers

from dct_keras.framework import optimizer_slots
from dct_keras.spectral.bases import SpectralTransform
from dct_keras.spectral.masks import bounding_extents, pack_mask, tail_mask, unpack_mask, unpack_mask_box
from dct_keras.spectral.orders import greedy_order


class SpectralWeight:
    """A weight ``w = IDCT(coefficients * mask)`` owned by a Keras layer.

    The variables are created on ``layer`` (so Keras tracks, trains and saves
    them as that layer's weights):

    * ``<name>`` – the trainable coefficients, in the layout of ``w``;
    * ``<name>_mask_bits`` – the mask, packed one bit per coefficient into a
      non-trainable uint8 variable (1/32 of the coefficients' memory);
    * ``<name>_kept_fraction`` – a non-trainable scalar, the schedule state of
      mask callbacks (`dct_keras.callbacks.TailDropout`), saved with the model.

    The spatial weight is rebuilt from the bounding box of the kept
    coefficients only (``extents``): with a zigzag tail mask keeping 1 % of a
    tensor, the truncated bases make the cost follow the kept block. When
    every coefficient is kept (``full``) the mask multiply is skipped. The
    extents and ``full`` are host-side Python values, refreshed whenever the
    mask is set or loaded; a traced train function must be rebuilt when they
    change (the mask callbacks do this).

    Switched-off coefficients are held at exactly zero in the variable: they
    are zeroed whenever a mask is set, their gradient is zero (the mask
    multiplies them in the forward pass), the regularizer sees the masked
    coefficients and the constraint's output is masked again. A mask fixed
    before training needs nothing more (the optimizer's momentum of a
    never-trained entry stays zero); when a mask shrinks during training,
    `set_mask(..., optimizer=...)` also clears the optimizer's state of the
    dropped entries, since stale momentum would move them off zero.

    Args:
        layer: the Keras layer that owns the variables.
        name: variable name of the coefficients.
        transform: a `SpectralTransform` for the weight's shape.
        mask: initial boolean mask of that shape (True = kept).
        initializer: initializer of the coefficients.
        regularizer: optional regularizer, applied to the masked coefficients.
        constraint: optional constraint, applied to the coefficients after each
            update (its result is masked).
    """

    def __init__(self, layer, name, transform, mask, initializer, regularizer=None, constraint=None):
        self.shape = transform.shape
        self.transform = transform
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.shape:
            raise ValueError(f"Mask shape {mask.shape} does not match weight shape {self.shape}.")
        regularizer = regularizers.get(regularizer)
        constraint = constraints.get(constraint)
        self.coefficients = layer.add_weight(
            name=name,
            shape=self.shape,
            initializer=initializer,
            regularizer=(lambda c: regularizer(c * self.mask)) if regularizer else None,
            constraint=(lambda c: constraint(c) * self.mask) if constraint else None,
            trainable=True,
            dtype=layer.dtype,
        )
        packed = pack_mask(mask)
        self.mask_bits = layer.add_weight(
            name=f"{name}_mask_bits",
            shape=packed.shape,
            initializer=lambda shape, dtype: ops.convert_to_tensor(packed, dtype="uint8"),
            trainable=False,
            dtype="uint8",
            autocast=False,
        )
        self.kept_fraction = layer.add_weight(
            name=f"{name}_kept_fraction",
            shape=(),
            initializer=lambda shape, dtype: ops.convert_to_tensor(mask.mean(), dtype="float32"),
            trainable=False,
            dtype="float32",
            autocast=False,
        )
        self.coefficients.assign(ops.convert_to_numpy(self.coefficients) * mask)
        self.extents = self.shape
        self.full = None
        self.refresh_extents()

    @property
    def state_variables(self):
        """Mask bookkeeping (not parameters): the packed bits and the fraction."""
        return (self.mask_bits, self.kept_fraction)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def mask(self):
        """The current mask as a 0/1 tensor in the coefficients' dtype."""
        return unpack_mask(self.mask_bits, self.shape, dtype=self.coefficients.dtype)

    def mask_numpy(self):
        """The current mask as a boolean NumPy array."""
        packed = ops.convert_to_numpy(self.mask_bits)
        return np.unpackbits(packed, count=self.size, bitorder="little").astype(bool).reshape(self.shape)

    def active_count(self):
        """Number of kept (not switched-off) coefficients."""
        return int(self.mask_numpy().sum())

    def value(self, perturb=None):
        """The spatial weight ``IDCT(coefficients * mask)`` (differentiable);
        ``IDCT(perturb(coefficients) * mask)`` with a function of the
        coefficients (a training step's perturbation, `spectral.perturb`)."""
        return self.transform.inverse(self._kept_box(perturb), extents=self.extents)

    def partial_value(self, axes, perturb=None):
        """The weight with the DCT of ``axes`` left undone: the kept box's
        coefficients along those axes (``extents``), transformed along the
        others. ``transform.channel_factor(axis, extents[axis])`` finishes
        each of them, on the weight or on a layer's activations."""
        return self.transform.without(axes, self.extents).inverse(self._kept_box(perturb), extents=self.extents)

    def _kept_box(self, perturb):
        """The (perturbed) coefficients of the kept block, switched-off ones zero."""
        coefficients = ops.convert_to_tensor(self.coefficients)
        if perturb is not None:
            coefficients = perturb(coefficients)
        if self.full:  # nothing switched off: no mask to apply
            return coefficients
        # `where`, not a multiply by the 0/1 mask: its gradient keeps the
        # boolean mask (1 byte per coefficient) until the backward pass, where
        # a multiply would keep the float one.
        if self.extents == self.shape:
            kept = unpack_mask(self.mask_bits, self.shape, dtype="bool")
            return ops.where(kept, coefficients, ops.zeros_like(coefficients))
        # Only the kept block is read: coefficients and mask bits of the box.
        coefficients = coefficients[tuple(slice(0, e) for e in self.extents)]
        kept = unpack_mask_box(self.mask_bits, self.shape, self.extents, dtype="bool")
        return ops.where(kept, coefficients, ops.zeros_like(coefficients))

    def refresh_extents(self):
        """Recomputes the kept block and ``full`` from the mask; True if
        either changed."""
        mask = self.mask_numpy()
        box = bounding_extents(mask)
        cut = self.transform.truncatable_axes()
        extents = tuple(e if axis in cut else n for axis, (e, n) in enumerate(zip(box, self.shape)))
        full = bool(mask.all())
        changed = extents != self.extents or full != self.full
        self.extents, self.full = extents, full
        return changed

    def set_mask(self, mask, kept_fraction=None, optimizer=None):
        """Replaces the mask and zeroes the newly switched-off coefficients.

        Args:
            mask: boolean array of the weight's shape (True = kept).
            kept_fraction: the schedule state to record (default: the mask's
                kept fraction).
            optimizer: a built Keras optimizer training these coefficients;
                its per-coefficient state (momentum, velocity, ...) is zeroed
                where the mask is off, so the dropped entries stay exactly zero.

        Returns True when the kept block changed (a traced function that
        reads `value` must then be rebuilt).
        """
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.shape:
            raise ValueError(f"Mask shape {mask.shape} does not match weight shape {self.shape}.")
        self.mask_bits.assign(pack_mask(mask))
        self.kept_fraction.assign(mask.mean() if kept_fraction is None else kept_fraction)
        self.coefficients.assign(ops.convert_to_numpy(self.coefficients) * mask)
        for slot in (optimizer_slots(optimizer, self.coefficients) if optimizer is not None else ()):
            slot.assign(ops.convert_to_numpy(slot) * mask)
        return self.refresh_extents()

    def zigzag_mask(self, kept):
        """Mask keeping the ``kept`` lowest frequencies (zigzag by the L1 norm
        of the frequency index over the transformed axes)."""
        return tail_mask(self.shape, kept, level=self.transform.frequency_level())

    def assign_spatial(self, weight):
        """Sets the coefficients to the masked forward DCT of a spatial weight."""
        weight = np.asarray(weight, dtype="float32")
        if weight.shape != self.shape:
            raise ValueError(f"Weight shape {weight.shape} does not match {self.shape}.")
        coefficients = ops.convert_to_numpy(self.transform.forward(weight))
        self.coefficients.assign(coefficients * self.mask_numpy())


class ReorderedWeight:
    """A weight stored compressed by reorder-DCT (reorder_dct_compression.txt,
    Alg. 1-3), owned by a Keras layer.

    The weight, in the paper's tensor order (out, in, spatial...; ``paper_axes``
    is the transpose from the stored layout to it), flattened row-major and
    reshaped to ``rows`` (g) rows of ``columns = size / g``, is kept as

    * ``<name>`` – trainable, ``(g, t)``: the ``t = kept`` lowest DCT
      frequencies of every row of the column-reordered matrix;
    * ``inverse_order`` – non-trainable int32, ``(columns,)``: the inverse
      ``s^-1`` of the column order ``s`` of Alg. 1 (the form Alg. 3 reads;
      saved with the model, fixed during fine-tuning). ``order`` gives ``s``.

    `value` decompresses (Alg. 3, differentiable): truncated inverse DCT of the
    rows (a `SpectralTransform` reading ``t`` of its ``columns`` basis rows),
    inverse ordering, reshape, transpose to the stored layout.
    """

    def __init__(self, layer, name, shape, paper_axes, rows, kept, regularizer=None):
        self.shape = tuple(shape)
        self.paper_axes = tuple(paper_axes)
        self.rows, self.kept = rows, kept
        self.columns = int(np.prod(self.shape)) // rows
        self.transform = SpectralTransform((rows, self.columns), (1,))
        self.coefficients = layer.add_weight(name=name, shape=(rows, kept), initializer="zeros",
                                             regularizer=regularizer, trainable=True, dtype=layer.dtype)
        columns = self.columns
        self.inverse_order = layer.add_weight(
            name="inverse_order", shape=(columns,), trainable=False, dtype="int32", autocast=False,
            initializer=lambda shape, dtype: ops.arange(columns, dtype="int32"),
        )

    def value(self, perturb=None):
        """Alg. 3: truncated IDCT of the rows, inverse ordering, reshape."""
        coefficients = ops.convert_to_tensor(self.coefficients)
        if perturb is not None:
            coefficients = perturb(coefficients)
        rows = self.transform.inverse(coefficients, extents=(self.rows, self.kept))
        rows = ops.take(rows, self.inverse_order, axis=1)  # column j comes from column s^-1(j)
        paper_shape = tuple(self.shape[a] for a in self.paper_axes)
        return ops.transpose(ops.reshape(rows, paper_shape), tuple(np.argsort(self.paper_axes)))

    def paper_rows(self, weight):
        """A weight in the stored layout as the paper's (g, c) matrix (NumPy)."""
        return np.transpose(np.asarray(weight), self.paper_axes).reshape(self.rows, self.columns)

    def set_compressed(self, weight, distance="euclidean", reorder=True):
        """Compresses a weight in the stored layout (Alg. 1-2): greedy column
        order (the identity with ``reorder=False``), then the ``kept`` lowest
        DCT frequencies of every row. Returns the seconds spent ordering and
        transforming (a compression's time report)."""
        start = time.perf_counter()
        rows = self.paper_rows(np.asarray(weight, dtype="float64"))
        order = greedy_order(rows.T, distance) if reorder else np.arange(self.columns)
        ordered = time.perf_counter()
        coefficients = ops.convert_to_numpy(self.transform.forward(rows[:, order].astype("float32")))
        self.set_order(order)
        self.coefficients.assign(coefficients[:, : self.kept])
        return ordered - start, time.perf_counter() - ordered

    def assign_spatial(self, weight):
        """Sets the weight from its values: `set_compressed` with the greedy order."""
        self.set_compressed(weight)

    @property
    def order(self):
        """The column order ``s`` of Alg. 1 (int32 NumPy array)."""
        return np.argsort(ops.convert_to_numpy(self.inverse_order)).astype("int32")

    def set_order(self, order):
        """Sets the column order ``s`` (a permutation of the columns)."""
        order = np.asarray(order)
        if order.shape != (self.columns,) or not np.array_equal(np.sort(order), np.arange(self.columns)):
            raise ValueError(f"`order` must be a permutation of range({self.columns}), got shape {order.shape}.")
        self.inverse_order.assign(np.argsort(order).astype("int32"))
