"""Weights compressed by reorder-DCT (reorder_dct_compression.txt, Alg. 1-3).

The kernel, in the paper's tensor order (out, in, kh, kw; a Dense kernel is a
1x1 convolution, (out, in)), is flattened row-major and reshaped to ``g`` rows
of ``c = size / g`` columns (``rows`` = g: the paper's "groups", renamed so
as not to clash with Keras's grouped-convolution ``groups``). The layer stores

* ``coefficients`` – trainable, ``(g, t)``: the ``t`` lowest DCT frequencies
  of every row of the column-reordered matrix;
* ``inverse_order`` – non-trainable int32, ``(c,)``: the inverse ``s^-1`` of
  the column order ``s`` of Alg. 1 (the same information as ``s``, stored in
  the form Alg. 3 reads, so no step recomputes it; saved with the model,
  fixed during fine-tuning). ``order`` gives ``s`` back.

and decompresses on use (Alg. 3, differentiable): truncated inverse DCT of
the rows (the spectral core's `SpectralTransform`, reading ``t`` of ``c``
rows of its basis), inverse ordering, reshape, transpose to the Keras layout.
"""

import numbers

import numpy as np
from keras import ops

from dct_keras.layers.base import SpectralLayer
from dct_keras.spectral.bases import SpectralTransform
from dct_keras.spectral.orders import greedy_order


class ReorderDCTBase(SpectralLayer):
    """Mixin of `ReorderDCTConv2D` and `ReorderDCTDense`.

    The geometry mixin gives the Keras kernel shape (grouped convolutions are
    not supported); ``_paper_axes`` is the
    transpose from the Keras layout to the paper's (out, in, ...) order.
    """

    spectral_config_keys = ("rows", "kept")
    # The coefficients are not constrained and grouped kernels are not compressed. (Their initial
    # values come from `compress`: a plain layer's kernel_initializer is carried in the config, unused.)
    unhonoured_arguments = SpectralLayer.unhonoured_arguments + ("kernel_constraint", "groups")

    @classmethod
    def config_from_plain(cls, layer, **options):
        """The plain layer's config less what the compressed layer cannot honour (a kernel constraint)."""
        return {**layer.get_config(), "kernel_constraint": None, **options}

    def __init__(self, *args, rows=4, kept=1, **kwargs):
        self.refuse_unhonoured(kwargs)
        for value, name in ((rows, "rows"), (kept, "kept")):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"Invalid value for argument `{name}`: expected an integer >= 1, received {value!r}.")
        super().__init__(*args, **kwargs)
        self.rows = int(rows)
        self.kept = int(kept)

    def build(self, input_shape):
        self.kernel_shape = self._kernel_shape(self._input_channels(input_shape))
        self.compute_output_shape(input_shape)
        size = int(np.prod(self.kernel_shape))
        if size % self.rows:
            raise ValueError(f"Invalid value for argument `rows`: {self.rows} does not divide the {size} weights of "
                             f"{self.name} (kernel {self.kernel_shape}).")
        self.columns = size // self.rows
        if self.kept > self.columns:
            raise ValueError(f"Invalid value for argument `kept`: {self.kept} > the {self.columns} columns of {self.name}.")
        self.transform = SpectralTransform((self.rows, self.columns), (1,))
        self.coefficients = self.add_weight(name="coefficients", shape=(self.rows, self.kept), initializer="zeros",
                                            regularizer=self.kernel_regularizer, trainable=True, dtype=self.dtype)
        columns = self.columns
        self.inverse_order = self.add_weight(
            name="inverse_order", shape=(columns,), trainable=False, dtype="int32", autocast=False,
            initializer=lambda shape, dtype: ops.arange(columns, dtype="int32"),
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.kernel_shape[self._output_axis],),
                                        initializer=self.bias_initializer, regularizer=self.bias_regularizer, dtype=self.dtype)
        self.built = True

    @property
    def kernel(self):
        """Alg. 3: truncated IDCT of the rows, inverse ordering, reshape."""
        rows = self.transform.inverse(ops.convert_to_tensor(self.coefficients), extents=(self.rows, self.kept))
        rows = ops.take(rows, self.inverse_order, axis=1)  # column j comes from column s^-1(j)
        paper_shape = tuple(self.kernel_shape[a] for a in self._paper_axes)
        return ops.transpose(ops.reshape(rows, paper_shape), tuple(np.argsort(self._paper_axes)))

    def paper_rows(self, kernel):
        """A Keras-layout kernel as the paper's (g, c) matrix (NumPy)."""
        return np.transpose(np.asarray(kernel), self._paper_axes).reshape(self.rows, self.columns)

    def set_compressed(self, kernel, distance="euclidean", reorder=True):
        """Compresses a Keras-layout ``kernel`` into this layer (Alg. 1-2):
        greedy column order (or the identity with ``reorder=False``), then the
        ``kept`` lowest DCT frequencies of every row."""
        rows = self.paper_rows(np.asarray(kernel, dtype="float64"))
        order = greedy_order(rows.T, distance) if reorder else np.arange(self.columns)
        coefficients = ops.convert_to_numpy(self.transform.forward(rows[:, order].astype("float32")))
        self.set_order(order)
        self.coefficients.assign(coefficients[:, : self.kept])

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

    def set_from_plain(self, layer):
        self.set_compressed(ops.convert_to_numpy(layer.kernel))
        if self.use_bias:
            self.bias.assign(layer.bias)

    def get_config(self):
        return {**super().get_config(), "rows": self.rows, "kept": self.kept}

