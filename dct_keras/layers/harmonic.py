"""`HarmonicConv`: harmonic block (harmonic_networks.txt, Fig. 1 and eq. 2-3)."""

import numbers

import keras
import numpy as np
from keras import activations, constraints, initializers, layers, ops, regularizers

from dct_keras.layers.base import SpectralLayer, register_family
from dct_keras.spectral.bases import dct_matrix
from dct_keras.spectral.masks import level_mask
from dct_keras.spectral.orders import zigzag_order

NORMALIZATIONS = ("ortho", "l1")


def harmonic_filter_bank(kernel_size, levels=None, normalization="ortho"):
    """The K x K DCT filters of a harmonic block, shape ``(K, K, F)``.

    Filter ``(u, v)`` is ``outer(C[u], C[v])`` for the orthonormal DCT-II
    matrix ``C`` (the separable 2-D DCT basis). Kept are the frequencies with
    ``u + v < levels`` (all for None), in zigzag order (by ``u + v``, then
    ``u``): lambda = 1 keeps the DC filter, 2 keeps 3, 3 keeps 6 for K = 3;
    ``levels >= 2 K - 1`` keeps all K^2. ``normalization="l1"`` scales each
    filter to unit L1 norm (the authors' ImageNet choice).
    """
    basis = dct_matrix(kernel_size)
    kept = level_mask((kernel_size, kernel_size), 2 * kernel_size if levels is None else levels, axes=(0, 1))
    order = [i for i in zigzag_order((kernel_size, kernel_size)) if kept.ravel()[i]]
    filters = np.stack([np.outer(basis[i // kernel_size], basis[i % kernel_size]) for i in order], axis=-1)
    if normalization == "l1":
        filters = filters / np.abs(filters).sum(axis=(0, 1))
    return filters


@keras.saving.register_keras_serializable(package="dct_keras")
@register_family("harmonic")
class HarmonicConv(SpectralLayer, layers.Layer):
    """Harmonic block: fixed DCT filter bank, optional BN, learned 1x1 combination.

    Each input channel is convolved (depthwise) with the ``F`` DCT filters of
    the bank, giving ``N * F`` response maps; optionally batch normalization
    adjusts each map's mean and variance (the spectrum normalization of eq. 3,
    used in the first block); a learned 1x1 convolution combines them into
    ``filters`` outputs (eq. 2). With the full bank the block has exactly the
    trainable parameters of a ``K x K`` convolution.

    Without batch normalization the block is linear, and ``merged=True``
    computes it as a single convolution with kernel ``sum_f w_f psi_f`` (the
    paper's ImageNet optimization): same outputs, same trainable weights, no
    ``N * F`` intermediate maps. With batch normalization it is still one
    convolution: the normalization maps each response ``r`` to ``r * s + t``
    (``s``, ``t`` from the batch statistics in training, the moving ones in
    inference), so the block is ``conv(x, sum_f psi_f s_f w_f) + sum_f t_f
    w_f`` exactly; training computes the responses only for their mean and
    variance (no normalized maps, no 1x1 convolution over ``N * F`` channels).

    Args:
        filters: int, output channels ``M``.
        kernel_size: int ``K``, the DCT filter size.
        strides: int or tuple, the stride of the filter bank.
        padding: "valid" or "same".
        levels: None (all K^2 frequencies) or int lambda >= 1: keep the
            frequencies with ``u + v < lambda``.
        normalization: "ortho" (orthonormal DCT filters) or "l1".
        batch_norm: normalize the ``N * F`` responses (eq. 3).
        batch_norm_affine: give that normalization a learned scale and shift.
            False (default) follows eq. (3) and the authors' code
            (``affine=False``): normalization only.
        merged: compute the block as one convolution (None, the default, is
            True); False computes the filter bank, the normalization layer and
            the 1x1 combination one after the other (same outputs, more time
            and memory).
        activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer, kernel_constraint,
        bias_constraint: as in `keras.layers.Conv2D`; the kernel ones act on
            the 1x1 combination weights.

    Input shape:
        4D tensor ``(batch, rows, cols, channels)`` (channels_last).

    Output shape:
        4D tensor ``(batch, new_rows, new_cols, filters)``.

    Example:

    >>> block = HarmonicConv(64, 3, padding="same", batch_norm=True)
    >>> tuple(block(np.zeros((2, 32, 32, 3), "float32")).shape)
    (2, 32, 32, 64)

    Reference:
        Ulicny, Krylov & Dahyot, "Harmonic Networks for Image Classification"
        (`harmonic_networks.txt`), §4.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        levels=None,
        normalization="ortho",
        batch_norm=False,
        merged=None,
        batch_norm_affine=False,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_positive_int(filters, "filters")
        _check_positive_int(kernel_size, "kernel_size")
        if levels is not None:
            _check_positive_int(levels, "levels")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"Invalid value for argument `normalization`: expected one of {NORMALIZATIONS}, received {normalization!r}.")
        if padding not in ("valid", "same"):
            raise ValueError(f"Invalid value for argument `padding`: expected 'valid' or 'same', received {padding!r}.")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = (strides, strides) if isinstance(strides, numbers.Integral) else tuple(strides)
        self.padding = padding
        self.levels = None if levels is None else int(levels)
        self.normalization = normalization
        self.batch_norm = bool(batch_norm)
        self.batch_norm_affine = bool(batch_norm_affine)
        self.merged = True if merged is None else bool(merged)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.filter_bank = harmonic_filter_bank(self.kernel_size, self.levels, normalization)
        self.response_norm = (
            layers.BatchNormalization(center=self.batch_norm_affine, scale=self.batch_norm_affine, name="spectrum_bn")
            if self.batch_norm else None
        )
        self.input_spec = layers.InputSpec(ndim=4)

    @property
    def frequencies(self):
        """Number ``F`` of DCT filters in the bank."""
        return self.filter_bank.shape[-1]

    def build(self, input_shape):
        channels = input_shape[-1]
        self.input_spec = layers.InputSpec(ndim=4, axes={-1: channels})
        self.pointwise_kernel = self.add_weight(
            name="pointwise_kernel",
            shape=(1, 1, channels * self.frequencies, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint,
            )
        if self.response_norm is not None:
            self.response_norm.build(self._response_shape(input_shape))

    def _response_shape(self, input_shape):
        spatial = self.compute_output_shape(input_shape)[1:3]
        return (input_shape[0],) + tuple(spatial) + (input_shape[-1] * self.frequencies,)

    @property
    def kernel(self):
        """The equivalent ``K x K x N x M`` convolution kernel ``sum_f w_f psi_f``
        (the block's exact kernel when it has no batch normalization)."""
        return self._merged_kernel()[0]

    def _merged_kernel(self, mean=None, variance=None):
        """Kernel and bias (None when the block has neither bias nor
        normalization) of the one convolution computing the block; with
        ``mean`` / ``variance`` (length ``N * F``) each response's
        normalization ``r -> (r - mean) / sqrt(variance + eps) * gamma + beta``
        folded in."""
        channels = self.pointwise_kernel.shape[2] // self.frequencies
        weights = ops.reshape(self.pointwise_kernel, (channels * self.frequencies, self.filters))
        bias = self.bias if self.use_bias else None
        if mean is not None:
            norm = self.response_norm
            scale = ops.rsqrt(ops.cast(variance, weights.dtype) + norm.epsilon)
            if self.batch_norm_affine:
                scale = scale * ops.cast(norm.gamma, weights.dtype)
            shift = -ops.cast(mean, weights.dtype) * scale
            if self.batch_norm_affine:
                shift = shift + ops.cast(norm.beta, weights.dtype)
            offset = ops.matmul(ops.expand_dims(shift, 0), weights)[0]
            bias = offset if bias is None else ops.add(bias, offset)
            weights = weights * ops.expand_dims(scale, 1)
        weights = ops.reshape(weights, (channels, self.frequencies, self.filters))
        bank = ops.convert_to_tensor(self.filter_bank, dtype=weights.dtype)
        return ops.einsum("ijf,nfm->ijnm", bank, weights), bias

    def _responses(self, inputs):
        """The ``N * F`` filter-bank responses (channel-major)."""
        bank = ops.convert_to_tensor(self.filter_bank[:, :, None, :], dtype=inputs.dtype)
        bank = ops.tile(bank, (1, 1, inputs.shape[-1], 1))
        return ops.depthwise_conv(inputs, bank, strides=self.strides, padding=self.padding)

    def _response_statistics(self, inputs, training):
        """The normalization's mean and variance: of this batch's responses in
        training (the moving averages updated as `BatchNormalization` does),
        the moving ones in inference."""
        norm = self.response_norm
        if training and norm.trainable:
            responses = ops.cast(self._responses(inputs), "float32")
            mean, variance = ops.moments(responses, axes=(0, 1, 2))
            norm.moving_mean.assign(norm.moving_mean * norm.momentum + mean * (1.0 - norm.momentum))
            norm.moving_variance.assign(norm.moving_variance * norm.momentum + variance * (1.0 - norm.momentum))
            return mean, variance
        return norm.moving_mean, norm.moving_variance

    def call(self, inputs, training=None):
        if self.merged:
            statistics = self._response_statistics(inputs, training) if self.batch_norm else ()
            kernel, bias = self._merged_kernel(*statistics)
            outputs = ops.conv(inputs, ops.cast(kernel, inputs.dtype), strides=self.strides, padding=self.padding)
        else:
            responses = self._responses(inputs)
            if self.response_norm is not None:
                responses = self.response_norm(responses, training=training)
            outputs = ops.conv(responses, self.pointwise_kernel, strides=1, padding="valid")
            bias = self.bias if self.use_bias else None
        if bias is not None:
            outputs = ops.add(outputs, ops.cast(bias, outputs.dtype))
        return self.activation(outputs) if self.activation is not None else outputs

    def compute_output_shape(self, input_shape):
        size = []
        for dim, stride in zip(input_shape[1:3], self.strides):
            if dim is None:
                size.append(None)
            elif self.padding == "same":
                size.append(-(-dim // stride))
            else:
                size.append((dim - self.kernel_size) // stride + 1)
        return (input_shape[0], size[0], size[1], self.filters)

    def set_from_kernel(self, kernel):
        """Sets the combination weights that best express a ``K x K x N x M``
        convolution kernel: exact with the full bank (outputs equal the
        convolution's), least squares onto the kept filters otherwise."""
        kernel = np.asarray(kernel, dtype="float64")
        size, channels, filters = self.kernel_size, kernel.shape[2], kernel.shape[3]
        if kernel.shape != (size, size, channels, filters) or filters != self.filters:
            raise ValueError(f"Expected a kernel of shape {(size, size, channels, self.filters)}, got {kernel.shape}.")
        basis = self.filter_bank.reshape(size * size, self.frequencies)
        weights, *_ = np.linalg.lstsq(basis, kernel.reshape(size * size, channels * filters), rcond=None)
        weights = weights.reshape(self.frequencies, channels, filters).transpose(1, 0, 2)
        self.pointwise_kernel.assign(weights.reshape(1, 1, channels * self.frequencies, filters).astype("float32"))

    @classmethod
    def plain_class(cls):
        return layers.Conv2D

    def plain_config(self):
        """A `Conv2D` computing this block (inference mode): the merged kernel,
        and with batch normalization its running statistics folded in, which
        needs a bias even when the block has none."""
        return {
            "name": self.name, "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
            "padding": self.padding, "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias or self.batch_norm, "dtype": self.dtype_policy.name,
        }

    def plain_weights(self):
        """Kernel (and bias) of `plain_config`'s `Conv2D`: the merged block in
        inference mode (normalization by the moving statistics)."""
        statistics = (self.response_norm.moving_mean, self.response_norm.moving_variance) if self.batch_norm else ()
        kernel, bias = self._merged_kernel(*statistics)
        return [ops.convert_to_numpy(kernel)] + ([ops.convert_to_numpy(bias)] if bias is not None else [])

    @classmethod
    def config_from_plain(cls, layer, **options):
        height, width = layer.kernel_size
        if height != width or layer.dilation_rate != (1, 1) or layer.groups != 1 or layer.data_format != "channels_last":
            raise ValueError(f"A harmonic block needs a square, undilated, ungrouped, channels_last Conv2D; "
                             f"{layer.name} is not one.")
        config = dict(filters=layer.filters, kernel_size=height, strides=layer.strides, padding=layer.padding,
                      activation=activations.serialize(layer.activation), use_bias=layer.use_bias, name=layer.name)
        config.update(options)
        return config

    def set_from_plain(self, layer):
        self.set_from_kernel(ops.convert_to_numpy(layer.kernel))
        if layer.use_bias and self.use_bias:
            self.bias.assign(layer.bias)

    @classmethod
    def from_conv2d(cls, conv, **kwargs):
        """A built `HarmonicConv` expressing a trained square `Conv2D`.

        ``kwargs`` (e.g. ``levels``, ``normalization``, ``merged``) override the
        block's arguments; filters, kernel size, strides, padding, activation
        and bias come from ``conv``. Exact (outputs within float error) with
        the full bank; the least-squares projection with ``levels``.
        """
        block = cls(**cls.config_from_plain(conv, **{"name": conv.name + "_harmonic", **kwargs}))
        block.build((None, None, None, conv.kernel.shape[2]))
        block.set_from_plain(conv)
        return block

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "levels": self.levels,
                "normalization": self.normalization,
                "batch_norm": self.batch_norm,
                "merged": self.merged,
                "batch_norm_affine": self.batch_norm_affine,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint),
            }
        )
        return config


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"Invalid value for argument `{name}`: expected an integer >= 1, received {value!r}.")
