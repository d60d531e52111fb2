"""`FreqRegDense`: `keras.layers.Dense` with Frequency Regularization."""

import keras

from dct_keras.layers.freqreg_base import FreqRegBase
from dct_keras.layers.geometry import DenseGeometry


@keras.saving.register_keras_serializable(package="dct_keras")
class FreqRegDense(FreqRegBase, DenseGeometry, keras.layers.Dense):
    """`keras.layers.Dense` whose kernel and bias live in the frequency domain.

    The kernel is ``IDCT(coefficients * mask)`` over ``transform_axes`` (all
    axes by default), the mask keeping the zigzag-lowest
    ``round(kept_fraction * n)`` coefficients; the bias likewise (1-D). Pair it
    with `dct_keras.callbacks.TailDropout` for the paper's dynamic
    tail-dropout, which shrinks the kept fraction epoch by epoch.

    Args:
        units, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as in `keras.layers.Dense` (kernel / bias initializers,
            regularizers and constraints act on the coefficients).
        kept_fraction: float in [0, 1], the initial kept fraction (1: all).
        transform_axes: None (all kernel axes) or the kernel axes to transform.
        spectral_bias: keep the bias in the frequency domain too (paper eq. 3).

    Input shape:
        2D tensor `(batch, input_dim)` (or N-D, the last axis is transformed as in `Dense`).

    Output shape:
        As `keras.layers.Dense`.

    Example:

    >>> layer = FreqRegDense(300, activation="relu", kept_fraction=0.1)
    >>> callback = dct_keras.callbacks.TailDropout(gamma=0.01, epsilon=0.01)

    Reference:
        Zhao et al., "Frequency Regularization: Restricting Information
        Redundancy of Convolutional Neural Networks"
        (`frequency_regularization.txt`), eq. (2)-(3) and §3.1.
    """
