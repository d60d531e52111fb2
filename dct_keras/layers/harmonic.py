"""`HarmonicConv`: harmonic block (harmonic_networks.txt, Fig. 1 and eq. 2-3)."""

import numbers

import keras
import numpy as np
from keras import activations, constraints, initializers, layers, ops, regularizers

from dct_keras.framework import update_moving_statistics
from dct_keras.layers.base import FamilyLayer, register_family
from dct_keras.spectral.harmonic import HarmonicBank, merged_block, merged_kernel, response_moments, unmerged_block


@keras.saving.register_keras_serializable(package="dct_keras")
@register_family("harmonic")
class HarmonicConv(FamilyLayer, layers.Layer):
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
    variance (no normalized maps, no 1x1 convolution over ``N * F`` channels),
    and its backward pass recomputes them rather than keeping them.

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
        batch_norm_momentum, batch_norm_epsilon: that normalization's moving
            average momentum and epsilon (Keras's defaults, 0.99 and 1e-3;
            PyTorch's, which the authors' code uses, are 0.9 and 1e-5).
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

    coding = HarmonicBank

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
        batch_norm_momentum=0.99,
        batch_norm_epsilon=1e-3,
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
        if isinstance(filters, bool) or not isinstance(filters, numbers.Integral) or filters < 1:
            raise ValueError(f"Invalid value for argument `filters`: expected an integer >= 1, received {filters!r}.")
        if padding not in ("valid", "same"):
            raise ValueError(f"Invalid value for argument `padding`: expected 'valid' or 'same', received {padding!r}.")
        if not 0 <= batch_norm_momentum < 1:
            raise ValueError(f"Invalid value for argument `batch_norm_momentum`: expected a number in [0, 1), "
                             f"received {batch_norm_momentum!r}.")
        if not batch_norm_epsilon > 0:
            raise ValueError(f"Invalid value for argument `batch_norm_epsilon`: expected a number > 0, "
                             f"received {batch_norm_epsilon!r}.")
        super().__init__(kernel_size=kernel_size, levels=levels, normalization=normalization, **kwargs)
        self.filters = int(filters)
        self.strides = (strides, strides) if isinstance(strides, numbers.Integral) else tuple(strides)
        self.padding = padding
        self.batch_norm = bool(batch_norm)
        self.batch_norm_affine = bool(batch_norm_affine)
        self.batch_norm_momentum = float(batch_norm_momentum)
        self.batch_norm_epsilon = float(batch_norm_epsilon)
        self.merged = True if merged is None else bool(merged)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.response_norm = (
            layers.BatchNormalization(center=self.batch_norm_affine, scale=self.batch_norm_affine,
                                      momentum=self.batch_norm_momentum, epsilon=self.batch_norm_epsilon,
                                      name="spectrum_bn")
            if self.batch_norm else None
        )
        self.input_spec = layers.InputSpec(ndim=4)

    @property
    def filter_bank(self):
        """The fixed ``(K, K, F)`` DCT filters (`harmonic_filter_bank`)."""
        return self.coding.filters

    @property
    def frequencies(self):
        """Number ``F`` of DCT filters in the bank."""
        return self.coding.frequencies

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
        self.bias_weight = None
        if self.use_bias:
            self.bias_weight = self.add_weight(
                name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                regularizer=self.bias_regularizer, constraint=self.bias_constraint,
            )
        if self.response_norm is not None:
            spatial = self.compute_output_shape(input_shape)[1:3]
            self.response_norm.build((input_shape[0],) + tuple(spatial) + (channels * self.frequencies,))
        self.built = True

    @property
    def bias(self):
        """The block's bias, or None."""
        self._require_built("bias")
        return self.bias_weight

    @property
    def kernel(self):
        """The equivalent ``K x K x N x M`` convolution kernel ``sum_f w_f psi_f``
        (the block's exact kernel when it has no batch normalization)."""
        self._require_built("kernel")
        return merged_kernel(self.filter_bank, self.pointwise_kernel)[0]

    def _normalization_parameters(self):
        """``epsilon`` (and the affine ``gamma``, ``beta``) of the responses'
        normalization, as `merged_kernel` takes them."""
        if not self.batch_norm:
            return {}
        norm = self.response_norm
        affine = dict(gamma=norm.gamma, beta=norm.beta) if self.batch_norm_affine else {}
        return dict(epsilon=norm.epsilon, **affine)

    def _response_statistics(self, inputs, training):
        """The normalization's mean and variance: of this batch's responses in
        training (the moving averages updated as `BatchNormalization` does),
        the moving ones in inference."""
        norm = self.response_norm
        if training and norm.trainable:
            mean, variance = response_moments(inputs, self.filter_bank, self.strides, self.padding)
            update_moving_statistics(norm, mean, variance)
            return mean, variance
        return norm.moving_mean, norm.moving_variance

    def call(self, inputs, training=None):
        if self.merged:
            statistics = self._response_statistics(inputs, training) if self.batch_norm else None
            outputs = merged_block(inputs, self.filter_bank, self.pointwise_kernel, self.strides, self.padding,
                                   statistics, **self._normalization_parameters())
        else:
            normalize = (lambda r: self.response_norm(r, training=training)) if self.batch_norm else None
            outputs = unmerged_block(inputs, self.filter_bank, self.pointwise_kernel, self.strides, self.padding,
                                     normalize)
        if self.bias is not None:
            outputs = ops.add(outputs, ops.cast(self.bias, outputs.dtype))
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
        size, channels = self.kernel_size, kernel.shape[2]
        if kernel.shape != (size, size, channels, self.filters):
            raise ValueError(f"Expected a kernel of shape {(size, size, channels, self.filters)}, got {kernel.shape}.")
        weights = self.coding.least_squares_weights(kernel)
        self.pointwise_kernel.assign(weights.reshape(1, 1, channels * self.frequencies, self.filters).astype("float32"))

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
        statistics = (self.response_norm.moving_mean, self.response_norm.moving_variance) if self.batch_norm else None
        kernel, bias = merged_kernel(self.filter_bank, self.pointwise_kernel, statistics,
                                     **self._normalization_parameters())
        if self.bias is not None:
            bias = self.bias if bias is None else ops.add(bias, self.bias)
        return [ops.convert_to_numpy(kernel)] + ([ops.convert_to_numpy(bias)] if bias is not None else [])

    @classmethod
    def config_from_plain(cls, layer, rng=None, **options):
        """None for a convolution no harmonic block expresses (not square,
        dilated, grouped or channels-first)."""
        height, width = layer.kernel_size
        if height != width or layer.dilation_rate != (1, 1) or layer.groups != 1 or layer.data_format != "channels_last":
            return None
        config = dict(filters=layer.filters, kernel_size=height, strides=layer.strides, padding=layer.padding,
                      activation=activations.serialize(layer.activation), use_bias=layer.use_bias, name=layer.name)
        config.update(options)
        return config

    def set_from_plain(self, layer):
        self.set_from_kernel(ops.convert_to_numpy(layer.kernel))
        if layer.use_bias and self.use_bias:
            self.bias.assign(ops.convert_to_numpy(layer.bias))  # a copy: JAX may donate the source buffer

    @classmethod
    def from_conv2d(cls, conv, **kwargs):
        """A built `HarmonicConv` expressing a trained square `Conv2D`.

        ``kwargs`` (e.g. ``levels``, ``normalization``, ``merged``) override the
        block's arguments; filters, kernel size, strides, padding, activation
        and bias come from ``conv``. Exact (outputs within float error) with
        the full bank; the least-squares projection with ``levels``.
        """
        config = cls.config_from_plain(conv, **{"name": conv.name + "_harmonic", **kwargs})
        if config is None:
            raise ValueError(f"A harmonic block needs a square, undilated, ungrouped, channels_last Conv2D; "
                             f"{conv.name} is not one.")
        block = cls(**config)
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
                "batch_norm_momentum": self.batch_norm_momentum,
                "batch_norm_epsilon": self.batch_norm_epsilon,
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

