"""Harmonic blocks' fixed DCT filter bank and their two ways of computing
(harmonic_networks.txt, Fig. 1 and eq. 2-3).

A block convolves each of its N input channels with the F filters of the bank
(``N * F`` responses), optionally normalizes each response (``r -> r * s +
t``), and combines them with learned ``(N * F, M)`` weights. Two exact forms:

* `unmerged_block` – filter bank, normalization, 1x1 combination, one after
  the other;
* `merged_block` – one ``K x K`` convolution with kernel
  ``sum_f psi_f s_f w_f`` and bias ``sum_f t_f w_f`` (`merged_kernel`:
  `fold_normalization`, then `combined_kernel`): no ``N * F`` maps.

With normalization, training needs the responses' batch mean and variance
(`response_moments`): the responses are computed for them and dropped; the
backward pass recomputes them instead of keeping ``N * F`` maps.
"""

import numpy as np
from keras import ops

from dct_keras.spectral.bases import dct_matrix
from dct_keras.spectral.families import Coding, check_choice, check_int
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


class HarmonicBank(Coding):
    """A harmonic block's fixed filter bank (``filters``: `harmonic_filter_bank`
    of ``kernel_size``, ``levels``, ``normalization``)."""

    family = "harmonic"
    arguments = ("kernel_size", "levels", "normalization")

    def __init__(self, kernel_size, levels=None, normalization="ortho"):
        check_int(kernel_size, "kernel_size", 1)
        if levels is not None:
            check_int(levels, "levels", 1)
        check_choice(normalization, "normalization", NORMALIZATIONS)
        self.kernel_size = int(kernel_size)
        self.levels = None if levels is None else int(levels)
        self.normalization = normalization
        self.filters = harmonic_filter_bank(self.kernel_size, self.levels, normalization)

    @property
    def frequencies(self):
        """Number ``F`` of filters."""
        return self.filters.shape[-1]

    def least_squares_weights(self, kernel):
        """The ``(N * F, M)`` combination weights that best express a
        ``K x K x N x M`` kernel: exact with the full bank, least squares onto
        the kept filters otherwise (NumPy)."""
        size, channels, outputs = self.kernel_size, kernel.shape[2], kernel.shape[3]
        basis = self.filters.reshape(size * size, self.frequencies)
        weights, *_ = np.linalg.lstsq(basis, np.asarray(kernel, "float64").reshape(size * size, channels * outputs),
                                      rcond=None)
        return weights.reshape(self.frequencies, channels, outputs).transpose(1, 0, 2).reshape(-1, outputs)


def fold_normalization(weights, mean, variance, epsilon, gamma=None, beta=None):
    """Folds the responses' normalization ``r -> (r - mean) / sqrt(variance +
    epsilon) * gamma + beta`` into the ``(N * F, M)`` combination weights:
    returns the scaled weights and the bias offset ``sum_f t_f w_f``."""
    scale = ops.rsqrt(ops.cast(variance, weights.dtype) + epsilon)
    if gamma is not None:
        scale = scale * ops.cast(gamma, weights.dtype)
    shift = -ops.cast(mean, weights.dtype) * scale
    if beta is not None:
        shift = shift + ops.cast(beta, weights.dtype)
    offset = ops.matmul(ops.expand_dims(shift, 0), weights)[0]
    return weights * ops.expand_dims(scale, 1), offset


def combined_kernel(filters, weights):
    """The ``K x K x N x M`` kernel ``sum_f w_f psi_f`` of a bank ``(K, K, F)``
    and ``(N * F, M)`` weights (channel-major)."""
    frequencies = filters.shape[-1]
    weights = ops.reshape(weights, (-1, frequencies, weights.shape[-1]))
    return ops.einsum("ijf,nfm->ijnm", ops.convert_to_tensor(filters, dtype=weights.dtype), weights)


def bank_responses(inputs, filters, strides, padding):
    """The ``N * F`` responses of each input channel to each filter
    (channel-major), as a depthwise convolution."""
    bank = ops.convert_to_tensor(filters[:, :, None, :], dtype=inputs.dtype)
    bank = ops.tile(bank, (1, 1, inputs.shape[-1], 1))
    return ops.depthwise_conv(inputs, bank, strides=strides, padding=padding)


def _padding(size, kernel_size, stride, padding):
    """``(before, after)`` zero padding of one spatial axis, as TensorFlow
    pads for "same" (the smaller half before) and none for "valid"."""
    if padding == "valid":
        return 0, 0
    total = max((-(-size // stride) - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def _dilate(tensor, axis, stride):
    """``stride - 1`` zeros between neighbours along ``axis`` (1 or 2)."""
    if stride == 1:
        return tensor
    shape = list(ops.shape(tensor))
    spread = ops.stack([tensor] + [ops.zeros_like(tensor)] * (stride - 1), axis=axis + 1)
    spread = ops.reshape(spread, shape[:axis] + [shape[axis] * stride] + shape[axis + 1:])
    return ops.take(spread, np.arange((shape[axis] - 1) * stride + 1), axis=axis)


def response_moments(inputs, filters, strides, padding):
    """Mean and variance (float32) over batch and positions of the ``N * F``
    responses (`bank_responses`), with a gradient that recomputes the
    responses rather than keeping them: the backward pass holds only the
    inputs (of known spatial size), and sends ``d/dr = (d mean + 2 (r -
    mean) d variance) / count`` back through the bank by correlating with
    the flipped filters (the transposed, stride-dilated depthwise
    convolution)."""
    size = filters.shape[0]
    channels, frequencies = inputs.shape[-1], filters.shape[-1]
    rows, cols = inputs.shape[1], inputs.shape[2]
    if rows is None or cols is None:  # sizes known only at run time: keep the responses
        return ops.moments(ops.cast(bank_responses(inputs, filters, strides, padding), "float32"), axes=(0, 1, 2))
    pads = [_padding(extent, size, stride, padding) for extent, stride in zip((rows, cols), strides)]
    bank = ops.convert_to_tensor(np.tile(filters[:, :, None, :], (1, 1, channels, 1)), dtype=inputs.dtype)
    flipped = np.tile(filters[::-1, ::-1, None, :], (1, 1, channels, 1)).reshape(size, size, -1, 1)
    flipped = ops.convert_to_tensor(flipped, dtype=inputs.dtype)

    def responses(x, scale=None):
        """The responses, each channel times ``scale`` (folded into the bank)."""
        kernel = bank if scale is None else bank * ops.cast(ops.reshape(scale, (1, 1, channels, frequencies)), x.dtype)
        return ops.depthwise_conv(ops.pad(x, ((0, 0), pads[0], pads[1], (0, 0))), kernel, strides, "valid")

    def transposed(maps, scale=None):
        """The bank's transpose (stride-dilated, padded correlation with the
        flipped filters, summed over the F filters) of ``maps * scale``."""
        maps = _dilate(_dilate(maps, 1, strides[0]), 2, strides[1])
        back = [(size - 1 - before, extent + size - 1 - length - (size - 1 - before))
                for (before, _), extent, length in zip(pads, (rows, cols), maps.shape[1:3])]
        centred = size % 2 == 1 and back == [((size - 1) // 2,) * 2] * 2  # what every backend pads for "same"
        if not centred:
            maps = ops.pad(maps, ((0, 0), back[0], back[1], (0, 0)))
        kernel = flipped if scale is None else flipped * ops.cast(ops.reshape(scale, (1, 1, -1, 1)), flipped.dtype)
        grads = ops.depthwise_conv(maps, kernel, strides=1, padding="same" if centred else "valid")
        return ops.sum(ops.reshape(grads, (-1, rows, cols, channels, frequencies)), axis=-1)

    @ops.custom_gradient
    def moments(x):
        maps = ops.cast(responses(x), "float32")
        mean, variance = ops.moments(maps, axes=(0, 1, 2))
        count = ops.cast(ops.shape(maps)[0] * maps.shape[1] * maps.shape[2], "float32")

        def gradient(*args, upstream=None):
            # d/dr = shift + scale * r per response channel, back through the bank; the
            # scaled responses are recomputed (a bank scaled by the upstream gradient: no
            # forward result to reuse, so none is kept)
            upstream = args[-1] if upstream is None else upstream
            scale = 2.0 * upstream[1] / count
            shift = upstream[0] / count - scale * mean
            constant = transposed(ops.ones((1,) + tuple(maps.shape[1:]), x.dtype), shift)
            return transposed(responses(x, scale)) + constant

        return ops.stack([mean, variance]), gradient

    statistics = moments(inputs)
    return statistics[0], statistics[1]


def merged_kernel(filters, weights, statistics=None, epsilon=1e-3, gamma=None, beta=None):
    """The ``K x K x N x M`` kernel of the one convolution computing a block
    and the bias offset of its normalization (None without ``statistics``,
    the responses' mean and variance): ``weights`` are the ``(N * F, M)``
    combination weights (any shape ending in ``N * F, M``)."""
    weights = ops.reshape(weights, (-1, weights.shape[-1]))
    offset = None
    if statistics is not None:
        weights, offset = fold_normalization(weights, *statistics, epsilon, gamma, beta)
    return combined_kernel(filters, weights), offset


def merged_block(inputs, filters, weights, strides, padding, statistics=None, epsilon=1e-3, gamma=None, beta=None):
    """A block (without its bias) as one convolution: `merged_kernel`,
    applied with its normalization offset."""
    kernel, offset = merged_kernel(filters, weights, statistics, epsilon, gamma, beta)
    outputs = ops.conv(inputs, ops.cast(kernel, inputs.dtype), strides=strides, padding=padding)
    return outputs if offset is None else ops.add(outputs, ops.cast(offset, outputs.dtype))


def unmerged_block(inputs, filters, pointwise_kernel, strides, padding, normalize=None):
    """Filter bank, then ``normalize`` (a callable on the responses, or None),
    then the 1x1 combination."""
    responses = bank_responses(inputs, filters, strides, padding)
    if normalize is not None:
        responses = normalize(responses)
    return ops.conv(responses, pointwise_kernel, strides=1, padding="valid")
