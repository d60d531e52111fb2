"""Where a kernel's channel-axis DCT runs: on the kernel, or on the activations.

A DCT over a kernel's input- or output-channel axis is a linear map on that
axis, and a channel-axis matrix commutes with the spatial convolution:

    conv(x, K)  ==  conv(x @ D_in^T, K') @ D_out

where ``K'`` is the kernel with those two DCTs left undone (the coefficients
of the kept box along them) and ``D_in`` / ``D_out`` are the axes' inverse
DCT rows of that box (`SpectralTransform.channel_factor`). On the kernel the
DCT of an axis costs about ``2 * box * n`` per step (``box``: the kept
coefficients' bounding box, ``n`` the axis length); on the activations
``2 * positions * n * e`` (``positions``: batch x output pixels, ``e``: the
box's extent along the axis), while the convolution itself then runs on
``e`` channels instead of ``n``. Late, small-map layers and truncated
(tail-masked) kernels are cheaper on the activations; early, large-map
layers on the kernel. `activation_axes` picks the cheapest of the four
choices from the static shapes; a blocked axis reads ``block`` coefficients
per entry instead of ``e``.
"""

import itertools

import numpy as np

from dct_keras.spectral.bases import FFT_MIN_LENGTH

CHANNEL_TRANSFORMS = ("auto", "kernel", "activations")
# The batch assumed when a traced call does not know its own.
ASSUMED_BATCH = 32


def activation_axes(transform, extents, channel_axes, positions, window, mode="auto"):
    """The kernel channel axes whose DCT runs on the activations.

    Args:
        transform: the kernel's `SpectralTransform`.
        extents: the kept box of the coefficients (per kernel axis).
        channel_axes: ``(input_axis, output_axis)`` of the kernel.
        positions: ``(input_positions, output_positions)``: the entries of the
            input / output activations per channel (batch x pixels).
        window: the kernel's spatial size (kh x kw; 1 for dense).
        mode: "auto" (the cheapest by the cost model), "kernel" (never) or
            "activations" (every eligible axis).

    An axis is eligible when the transform covers it with a basis matrix
    (longer axes use the FFT, which stays on the kernel) and it is longer
    than 1.
    """
    eligible = tuple(a for a in channel_axes
                     if a in transform.axes and 1 < transform.shape[a] < FFT_MIN_LENGTH)
    if mode == "kernel" or not eligible:
        return ()
    if mode == "activations":
        return eligible
    box = float(np.prod(extents))
    input_axis, output_axis = channel_axes

    def width(axis):  # coefficients each transformed entry reads
        return transform.block_sizes.get(axis, extents[axis])

    def cost(moved):
        kept = [extents[a] if a in moved else transform.shape[a] for a in (input_axis, output_axis)]
        total = 2.0 * positions[1] * window * kept[0] * kept[1]
        for axis in eligible:
            if axis in moved:
                total += 2.0 * positions[axis == output_axis] * transform.shape[axis] * width(axis)
            else:
                total += 2.0 * box / extents[axis] * transform.shape[axis] * width(axis)
        return total

    choices = [c for r in range(len(eligible) + 1) for c in itertools.combinations(eligible, r)]
    return min(choices, key=cost)
