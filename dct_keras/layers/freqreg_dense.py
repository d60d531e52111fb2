"""`FreqRegDense`: `keras.layers.Dense` with Frequency Regularization."""

import keras

from dct_keras.layers.base import SpectralLayer, register_family
from dct_keras.spectral.families import FreqRegCoding


@keras.saving.register_keras_serializable(package="dct_keras")
@register_family("freqreg")
class FreqRegDense(SpectralLayer, keras.layers.Dense):
    """Densely-connected layer with Frequency Regularization.

    `keras.layers.Dense` whose ``(input_dim, units)`` kernel is the 2-D IDCT of
    tail-masked coefficients, and whose bias the 1-D IDCT of its own (paper
    eq. 3). The LeNet-300-100 of Table 1 is made of these. The FreqReg
    arguments are those of `FreqRegConv2D`.

    Args:
        units, activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, bias_constraint: as in `keras.layers.Dense` (the
        kernel / bias ones act on the coefficients).
        kept_fraction, transform_axes, spectral_bias: see `FreqRegConv2D`.

    Input shape:
        N-D tensor ``(batch, ..., input_dim)``.

    Output shape:
        N-D tensor ``(batch, ..., units)``.

    Example:

    >>> layer = FreqRegDense(300, activation="relu", kept_fraction=0.1)
    >>> tuple(layer(np.zeros((4, 784), "float32")).shape)
    (4, 300)

    Reference:
        Zhao et al., "Frequency Regularization" (`frequency_regularization.txt`), eq. (3).
    """

    coding = FreqRegCoding
