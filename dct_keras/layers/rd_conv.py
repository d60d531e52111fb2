"""`RDConv2D`: a convolution trained under the code length of its weights."""

import keras

from dct_keras.layers.base import SpectralLayer, register_family
from dct_keras.spectral.families import RateDistortionCoding


@keras.saving.register_keras_serializable(package="dct_keras")
@register_family("rd")
class RDConv2D(SpectralLayer, keras.layers.Conv2D):
    """`keras.layers.Conv2D` for rate–distortion training.

    The kernel is ``IDCT(step * round(coefficients / step))``: the 2-D DCT
    coefficients of every spatial slice, quantized with one learned step per
    spatial frequency (a 1x1 kernel: one step, no transform); the bias is
    quantized with its own step. The integer codes have a learned
    probability model per group (a discretized logistic); in a training call
    the layer adds ``rate_weight * warmup * rate`` to the model's loss, the
    rate being their code length in bits. Shipped (`dct_keras.save_shipped`),
    the codes are entropy-coded with tables made from the same model, so the
    rate is the file's weight size. See `dct_keras.spectral.coded`.

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate,
        groups, activation, use_bias, kernel_initializer, bias_initializer,
        kernel_regularizer, bias_regularizer, activity_regularizer: as in
            `keras.layers.Conv2D` (the kernel ones act on the coefficients).
        rate_weight: float >= 0, the loss per bit of code length (0: the
            weights are quantized but the rate is not a loss). The
            rate-distortion technique uses ``lambda / parameters``.
        log_speed: float > 0, how much faster than the coefficients the
            logarithms of the steps and prior scales train (`CodedWeight`;
            10 suits Adam at its usual rates, 1 SGD).
        seed: int or None, the seed of the training noise (None draws one
            and records it in the config).

    Input shape:
        4D image tensor, as `keras.layers.Conv2D`.

    Output shape:
        As `keras.layers.Conv2D`.

    Example:

    >>> layer = RDConv2D(20, 5, rate_weight=1e-5, seed=0)
    >>> tuple(layer(np.zeros((2, 28, 28, 1), "float32")).shape)
    (2, 24, 24, 20)

    Reference:
        Oktay et al., "Scalable Model Compression by Entropy Penalized
        Reparameterization", ICLR 2020 (arXiv 1906.06624).
    """

    coding = RateDistortionCoding
