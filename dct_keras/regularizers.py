"""Training-time penalties on spectral weights: CTNet's H.265 rate proxy.

ctnet_h265.txt §3 trains DCT coefficients under a differentiable estimate of
the bits an H.265 encoder spends on them (the paper's text lost its formulas;
these are its authors' public code's). Per coefficient ``w`` with
``a = |w| / q``:

* significance ``sigmoid(s (a - 0.5))`` (about one bit to say "non-zero"),
* level cost ``1 + log2(1 + a)``,
* scan-order weight ``w_pos``: ``1 +`` the JPEG scan index of ``(u, v)`` (its
  position in the JPEG standard's scan) for a spatial kernel; for 1x1
  convolutions and dense layers ``1 + u / (O - 1) + v / (I - 1)`` over the
  whole ``O x I`` (output, input) matrix (the authors' code's
  ``channel_positions="matrix"``, default) or ``1 + u / (B - 1) + v / (B - 1)``
  with ``u, v`` inside each ``B x B`` channel block (``"block"``, ours: the
  position of a coefficient in its block's DCT),

and ``rate = sum(significance * level * w_pos)``; the loss adds
``warmup * strength * (rate + l2_ratio * sum(w^2))`` (the L2 coupling
``lambda_2 = alpha lambda`` of the authors' code, ramped by the same warm-up
as there). Use it as the
``kernel_regularizer`` of a spectral layer (it then sees the masked
coefficients); `dct_keras.callbacks.RateWarmup` ramps ``warmup`` and logs
the per-layer rate and non-zero counts.
"""

import math
import numbers

import keras
import numpy as np
from keras import ops


def jpeg_scan_index(rows, columns):
    """The JPEG scan index of every ``(u, v)`` of a ``rows x columns`` block
    (its position in the JPEG standard's scan; elsewhere in dct_keras
    "zigzag" is the level order of `dct_keras.spectral.orders.zigzag_order`):
    anti-diagonals ``u + v`` in order, odd ones walked with ``u`` increasing, even ones with ``u`` decreasing ((0,0), (0,1), (1,0), (2,0),
    (1,1), (0,2), ...)."""
    index = np.zeros((rows, columns), dtype=np.int64)
    position = 0
    for diagonal in range(rows + columns - 1):
        cells = [(u, diagonal - u) for u in range(rows) if 0 <= diagonal - u < columns]
        if diagonal % 2 == 0:
            cells.reverse()
        for u, v in cells:
            index[u, v] = position
            position += 1
    return index


CHANNEL_POSITIONS = ("matrix", "block")


def position_weights(shape, block=16, channel_positions="matrix"):
    """``w_pos`` for a coefficient tensor in Keras layout.

    A kernel with a spatial extent (``(kh, kw, in, out)``, kh * kw > 1) gets
    ``1 + JPEG scan index`` of its ``(kh, kw)`` position; a 1x1 kernel
    ``(1, 1, in, out)`` or a dense kernel ``(in, out)`` gets
    ``1 + u / (O - 1) + v / (I - 1)`` with ``u`` the output and ``v`` the
    input index (``"matrix"``), or the same ramp inside each ``B x B`` block
    (``"block"``: ``1 + (u mod B) / (B - 1) + (v mod B) / (B - 1)``).
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) == 4 and shape[0] * shape[1] > 1:
        weights = 1.0 + jpeg_scan_index(shape[0], shape[1]).astype("float64")
        return np.broadcast_to(weights[:, :, None, None], shape)
    if channel_positions == "matrix":
        inputs = np.arange(shape[-2]) / max(shape[-2] - 1, 1)
        outputs = np.arange(shape[-1]) / max(shape[-1] - 1, 1)
    else:
        span = max(block - 1, 1)
        inputs = (np.arange(shape[-2]) % block) / span
        outputs = (np.arange(shape[-1]) % block) / span
    weights = 1.0 + outputs[None, :] + inputs[:, None]
    return np.broadcast_to(weights.reshape((1,) * (len(shape) - 2) + weights.shape), shape)


@keras.saving.register_keras_serializable(package="dct_keras")
class H265RateProxy(keras.regularizers.Regularizer):
    """CTNet's differentiable H.265 rate estimate as a Keras regularizer.

    Args:
        strength: lambda (paper: 1e-5).
        q: quantization step (paper: 0.1).
        sharpness: s of the significance sigmoid (10).
        block: B of the channel blocks of 1x1 / dense kernels (16), read by
            ``channel_positions="block"``.
        l2_ratio: alpha of the L2 coupling ``lambda_2 = alpha lambda`` (0:
            none; the authors' code: 1).
        channel_positions: ``"matrix"`` (the authors' code: one ramp over the
            whole (output, input) matrix of a 1x1 / dense kernel) or
            ``"block"`` (ours, before: the ramp inside each B x B block).
        rate_term: False leaves the rate out and keeps the L2 coupling (under
            the same lambda and warm-up): the reference run that isolates
            what the rate costs and buys.

    Example:

    >>> layer = dct_keras.DCTConv2D(64, 3, kernel_regularizer=H265RateProxy(1e-5))

    Reference:
        Iordanis & Mitsis Poiitidis, "CTNet" (`ctnet_h265.txt`), §3.
    """

    def __init__(self, strength=1e-5, q=0.1, sharpness=10.0, block=16, l2_ratio=0.0, channel_positions="matrix",
                 rate_term=True):
        for value, name, low in ((strength, "strength", 0), (q, "q", 0), (sharpness, "sharpness", 0), (l2_ratio, "l2_ratio", 0)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= low or not math.isfinite(value):
                raise ValueError(f"Invalid value for argument `{name}`: expected a finite number >= {low}, received {value!r}.")
        if q == 0:
            raise ValueError("Invalid value for argument `q`: expected a number > 0, received 0.")
        if isinstance(block, bool) or not isinstance(block, numbers.Integral) or block < 1:
            raise ValueError(f"Invalid value for argument `block`: expected an integer >= 1, received {block!r}.")
        if channel_positions not in CHANNEL_POSITIONS:
            raise ValueError(f"Invalid value for argument `channel_positions`: expected one of {CHANNEL_POSITIONS}, "
                             f"received {channel_positions!r}.")
        if not isinstance(rate_term, bool):
            raise ValueError(f"Invalid value for argument `rate_term`: expected a bool, received {rate_term!r}.")
        self.channel_positions = channel_positions
        self.rate_term = rate_term
        self.strength = float(strength)
        self.q = float(q)
        self.sharpness = float(sharpness)
        self.block = int(block)
        self.l2_ratio = float(l2_ratio)
        # The warm-up factor (`RateWarmup` sets it every epoch from the epoch index).
        self.warmup = keras.Variable(1.0, trainable=False, dtype="float32", name="rate_warmup")

    def rate(self, coefficients):
        """The rate estimate (bits, before lambda) of a coefficient tensor."""
        coefficients = ops.convert_to_tensor(coefficients)
        magnitude = ops.abs(coefficients) / self.q
        significance = ops.sigmoid(self.sharpness * (magnitude - 0.5))
        level = 1.0 + ops.log(1.0 + magnitude) / math.log(2.0)
        weights = ops.convert_to_tensor(position_weights(coefficients.shape, self.block, self.channel_positions), dtype=coefficients.dtype)
        return ops.sum(significance * level * weights)

    def __call__(self, coefficients):
        penalty = self.rate(coefficients) if self.rate_term else 0.0
        if self.l2_ratio:
            penalty = penalty + self.l2_ratio * ops.sum(ops.square(coefficients))
        return ops.cast(self.warmup, coefficients.dtype) * self.strength * penalty

    def get_config(self):
        return {"strength": self.strength, "q": self.q, "sharpness": self.sharpness, "block": self.block,
                "l2_ratio": self.l2_ratio, "channel_positions": self.channel_positions, "rate_term": self.rate_term}
