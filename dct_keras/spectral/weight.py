"""`SpectralWeight`: one weight tensor stored as masked DCT coefficients."""

import numpy as np
from keras import constraints, ops, regularizers

from dct_keras.spectral.masks import bounding_extents, pack_mask, tail_mask, unpack_mask, unpack_mask_box


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
        coefficients = ops.convert_to_tensor(self.coefficients)
        if perturb is not None:
            coefficients = perturb(coefficients)
        if self.full:  # nothing switched off: no mask to apply
            return self.transform.inverse(coefficients)
        # `where`, not a multiply by the 0/1 mask: its gradient keeps the
        # boolean mask (1 byte per coefficient) until the backward pass, where
        # a multiply would keep the float one.
        if self.extents == self.shape:
            kept = unpack_mask(self.mask_bits, self.shape, dtype="bool")
            return self.transform.inverse(ops.where(kept, coefficients, ops.zeros_like(coefficients)))
        # Only the kept block is read: coefficients and mask bits of the box.
        coefficients = coefficients[tuple(slice(0, e) for e in self.extents)]
        kept = unpack_mask_box(self.mask_bits, self.shape, self.extents, dtype="bool")
        return self.transform.inverse(ops.where(kept, coefficients, ops.zeros_like(coefficients)), extents=self.extents)

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
        for slot in self._optimizer_slots(optimizer):
            slot.assign(ops.convert_to_numpy(slot) * mask)
        return self.refresh_extents()

    def _optimizer_slots(self, optimizer):
        """The optimizer variables created for the coefficients (Keras names
        them ``<variable path with '_'>_<slot>``)."""
        if optimizer is None:
            return []
        prefix = self.coefficients.path.replace("/", "_") + "_"
        return [v for v in optimizer.variables if tuple(v.shape) == self.shape and v.name.startswith(prefix)]

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
