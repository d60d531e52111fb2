"""`DCTConv2D`: 2-D convolution whose filters are the IDCT of trained coefficients."""

import keras

from dct_keras.layers.base import SpectralLayer, register_family
from dct_keras.spectral.families import DCTCoding


@keras.saving.register_keras_serializable(package="dct_keras")
@register_family("dct")
class DCTConv2D(SpectralLayer, keras.layers.Conv2D):
    """2D convolution layer with filters defined by trained DCT coefficients.

    The layer behaves as `keras.layers.Conv2D`, but its trainable weights are
    DCT coefficients: whenever the layer runs, its kernel is
    ``IDCT(coefficients * mask)`` (orthonormal DCT-II, see
    `dct_keras.spectral.bases`). A fraction ``switch_off`` of the coefficients
    is switched off before training: set to zero and excluded from training.

    Args:
        filters: int, the number of output filters.
        kernel_size: int or tuple of 2 ints, the size of the window.
        strides, padding, data_format, dilation_rate, groups, activation,
        use_bias, bias_initializer, bias_regularizer, activity_regularizer,
        bias_constraint: as in `keras.layers.Conv2D`.
        kernel_initializer: initializer of the DCT coefficients (the paper
            initializes them "as the components of the filters were
            originally initialized"). Defaults to `"glorot_uniform"`.
        kernel_regularizer: regularizer applied to the masked coefficients. With
            the orthonormal DCT an L2 penalty on them equals the same penalty
            on the filters.
        kernel_constraint: constraint applied to the coefficients after each
            update; its output is masked again.
        switch_off: float in [0, 1], the switch-off probability ``p``. Exactly
            ``round(p * n)`` of the ``n`` coefficients are switched off, chosen
            at random (dct_conv.txt §V-G).
        switch_off_policy: `"random"` (the paper's seeded random subset) or
            `"tail"` (the highest frequencies: the end of the zigzag order over
            the transformed axes, ties by flat index; deterministic).
        mask_seed: int or None, the seed of the switch-off mask. None draws one
            from NumPy's global generator; it is recorded in `get_config()`.
        pointwise: for 1x1 kernels, `"channel_dct"` (1-D IDCT over consecutive
            sub-rows of `pointwise_block` input channels, paper §IV-A; a
            shorter last block gets its own DCT), `"channel_block_dct2d"`
            (CTNet's form: 2-D IDCT over (input, output) channels in
            `pointwise_block` x `pointwise_block` blocks) or `"none"` (plain
            weights).
        pointwise_block: int >= 1, the sub-row / block length.
        training_noise: float >= 0, CTNet's noise step ``q`` (0: off).
        coefficient_dropout: float in [0, 1), CTNet's coefficient dropout
            (0: off).
        training_bits: 0 (off) or int in [2, 16], CTNet's export-aware
            rounding of the coefficients in training calls (see
            `dct_keras.spectral.families.DCTCoding`).

    Input shape:
        4D tensor ``(batch, rows, cols, channels)`` for `"channels_last"`, or
        ``(batch, channels, rows, cols)`` for `"channels_first"`.

    Output shape:
        As `keras.layers.Conv2D`.

    Example:

    >>> layer = DCTConv2D(32, 3, padding="same", switch_off=0.5, mask_seed=0)
    >>> y = layer(np.zeros((2, 16, 16, 8), "float32"))
    >>> tuple(layer.coefficients.shape), tuple(layer.kernel.shape)
    ((3, 3, 8, 32), (3, 3, 8, 32))

    Reference:
        Chęciński & Wawrzyński, "DCT-Conv: Coding filters in convolutional
        networks with Discrete Cosine Transform" (`dct_conv.txt`).
    """

    coding = DCTCoding
