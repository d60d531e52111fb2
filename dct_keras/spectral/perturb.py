"""Training-time perturbations of coefficients (CTNet's recipe, ctnet_h265.txt
and its authors' public code), applied in a training call only.

In the authors' code's order, to a coefficient tensor ``c``:

1. noise ``c + u q``, ``u ~ U(-1/2, 1/2)`` drawn every step (the paper's
   differentiable stand-in for rounding to the step ``q``);
2. coefficient dropout: each coefficient zeroed with probability ``rate``,
   the survivors scaled by ``1 / (1 - rate)`` (the authors' "DCT dropout");
3. export-aware quantization to ``bits``: the tensor centred on its
   min / max midpoint, scaled to ``2^bits - 1`` levels, rounded, clipped and
   mapped back (the H.265 export's pixel round trip, per tensor instead of
   per tile), with a straight-through gradient.
"""

from keras import ops, random


def quantize_straight_through(coefficients, bits):
    """``coefficients`` on ``2^bits - 1`` levels between their min and max
    (forward) with the identity's gradient (backward); unchanged when all
    are equal."""
    levels = float(2**bits - 1)
    low, high = ops.min(coefficients), ops.max(coefficients)
    span = high - low
    centre = (low + high) / 2.0
    scale = levels / ops.maximum(span, 1e-30)
    pixels = ops.clip(ops.round((coefficients - centre) * scale + levels / 2.0), 0.0, levels)
    quantized = ops.where(span > 0, (pixels - levels / 2.0) / scale + centre, coefficients)
    return coefficients + ops.stop_gradient(quantized - coefficients)


def perturb(coefficients, seed, noise_step=0.0, dropout=0.0, bits=0):
    """The perturbed coefficients of one training step (see the module
    docstring); ``seed`` is a `keras.random.SeedGenerator`."""
    if noise_step:
        coefficients = coefficients + random.uniform(ops.shape(coefficients), -0.5, 0.5, seed=seed) * noise_step
    if dropout:
        coefficients = random.dropout(coefficients, dropout, seed=seed)
    if bits:
        coefficients = quantize_straight_through(coefficients, bits)
    return coefficients
