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
