"""`RDDense`: a dense layer trained under the code length of its weights."""

import keras

from dct_keras.layers.base import SpectralLayer, register_family
from dct_keras.spectral.families import RateDistortionCoding


@keras.saving.register_keras_serializable(package="dct_keras")
@register_family("rd")
class RDDense(SpectralLayer, keras.layers.Dense):
    """`keras.layers.Dense` for rate–distortion training: the kernel and the
    bias are quantized with one learned step each (no transform, as
    entropy-penalized reparameterization treats dense layers) and have one
    learned probability model each; see `RDConv2D`.

    Args:
        units, activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer, activity_regularizer: as in
            `keras.layers.Dense`.
        rate_weight, log_speed, seed: as in `RDConv2D`.

    Input shape:
        N-D tensor ``(batch, ..., input_dim)``.

    Output shape:
        N-D tensor ``(batch, ..., units)``.

    Example:

    >>> layer = RDDense(10, rate_weight=1e-5)
    >>> tuple(layer(np.zeros((2, 800), "float32")).shape)
    (2, 10)

    Reference:
        Oktay et al., ICLR 2020 (arXiv 1906.06624).
    """

    coding = RateDistortionCoding
