"""`DCTDense`: a Dense layer whose kernel is the IDCT of trained coefficients (CTNet's channel form)."""

import keras

from dct_keras.layers.base import SpectralLayer, register_family
from dct_keras.spectral.families import DCTCoding


@keras.saving.register_keras_serializable(package="dct_keras")
@register_family("dct")
class DCTDense(SpectralLayer, keras.layers.Dense):
    """Densely-connected layer with a kernel defined by trained DCT coefficients.

    `keras.layers.Dense` whose ``(input_dim, units)`` kernel is
    ``IDCT(coefficients * mask)``; by default in CTNet's channel form: a 2-D
    DCT over (input, output) in ``16 x 16`` blocks, the form ctnet_h265.txt
    gives its fully connected layer and 1x1 convolutions (a shorter block at
    the end of an axis gets its own DCT). It is the dense member of the
    DCT-Conv family, with the same arguments; dct_conv.txt itself leaves
    dense layers plain, so `convert(model, to="dct")` converts `Dense` only
    when asked (``dense=True``).

    Args:
        units, activation, use_bias, bias_initializer, bias_regularizer,
        activity_regularizer, bias_constraint: as in `keras.layers.Dense`.
        kernel_initializer, kernel_regularizer, kernel_constraint: act on the
            coefficients (see `DCTConv2D`).
        pointwise: `"channel_block_dct2d"` (default, CTNet), `"channel_dct"`
            (1-D DCT over sub-rows of the input axis, DCT-Conv's 1x1 form) or
            `"none"`.
        pointwise_block: int >= 1, the block length (16).
        switch_off, switch_off_policy, mask_seed, training_noise,
            coefficient_dropout, training_bits: see
            `DCTConv2D`.

    Input shape:
        N-D tensor ``(batch, ..., input_dim)``.

    Output shape:
        N-D tensor ``(batch, ..., units)``.

    Example:

    >>> layer = DCTDense(10, kernel_regularizer=dct_keras.regularizers.H265RateProxy(1e-5))
    >>> tuple(layer(np.zeros((2, 512), "float32")).shape)
    (2, 10)

    Reference:
        Iordanis & Mitsis Poiitidis, "CTNet" (`ctnet_h265.txt`), §3;
        Chęciński & Wawrzyński, "DCT-Conv" (`dct_conv.txt`).
    """

    coding = DCTCoding
    convert_by_default = False

    def __init__(self, units, pointwise="channel_block_dct2d", **kwargs):
        super().__init__(units, pointwise=pointwise, **kwargs)
