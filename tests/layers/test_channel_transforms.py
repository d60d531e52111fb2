"""Channel-axis DCTs on the activations (`dct_keras.spectral.channels`): the
same outputs and gradients as on the kernel, checked against SciPy (odd
lengths, truncated boxes, blocked and ragged axes); the cost model's choices."""

import keras
import numpy as np
import pytest
import scipy.fft
from keras import ops

from dct_keras import DCTConv2D, DCTDense, FreqRegConv2D, FreqRegConv2DTranspose, FreqRegDense
from dct_keras.spectral import SpectralTransform
from dct_keras.spectral.channels import activation_axes

CASES = {
    "freqreg-conv-tail": (lambda m: FreqRegConv2D(12, 3, padding="same", kept_fraction=0.3, channel_transform=m), (6, 6, 11)),
    "freqreg-conv-full": (lambda m: FreqRegConv2D(7, 3, kept_fraction=1.0, channel_transform=m), (6, 5, 9)),
    "freqreg-dense": (lambda m: FreqRegDense(7, kept_fraction=0.4, channel_transform=m), (3, 11)),
    "freqreg-transpose": (lambda m: FreqRegConv2DTranspose(5, 3, strides=2, kept_fraction=0.5, channel_transform=m), (5, 5, 9)),
    "dct-1x1-block2d": (lambda m: DCTConv2D(20, 1, switch_off=0.3, mask_seed=1, pointwise="channel_block_dct2d",
                                            pointwise_block=8, channel_transform=m), (4, 4, 18)),
    "dct-1x1-subrows": (lambda m: DCTConv2D(13, 1, switch_off=0.3, mask_seed=1, pointwise_block=7,
                                            channel_transform=m), (4, 4, 18)),
    "dct-dense": (lambda m: DCTDense(19, switch_off=0.2, mask_seed=1, channel_transform=m), (37,)),
}


def _np(x):
    return ops.convert_to_numpy(x)


def _scipy_kernel(layer):
    """The kernel by SciPy: the inverse DCT of the masked coefficients over
    the transform's axes (blocks, ragged tail included, one by one)."""
    weight = layer.spectral_kernel
    kernel = _np(layer.coefficients) * _np(layer.mask)
    for axis in weight.transform.axes:
        block = weight.transform.block_sizes.get(axis, kernel.shape[axis])
        pieces = [scipy.fft.idct(chunk, axis=axis, norm="ortho")
                  for chunk in np.split(kernel, range(block, kernel.shape[axis], block), axis=axis)]
        kernel = np.concatenate(pieces, axis=axis)
    return kernel


def _built(name, mode, rng):
    make, shape = CASES[name]
    layer = make(mode)
    x = rng.standard_normal((2,) + shape).astype("float32")
    layer(x)
    weight = layer.spectral_kernel
    weight.coefficients.assign(rng.standard_normal(weight.shape).astype("float32") * _np(weight.mask))
    return layer, x


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_side_outputs_equal_scipy_kernels(name, rng):
    layer, x = _built(name, "activations", rng)
    assert layer._activation_axes(x), "nothing moved onto the activations"
    plain = layer.plain_class().from_config(layer.plain_config())
    plain(x)
    plain.set_weights([_scipy_kernel(layer)] + [_np(layer.bias)])
    expected = _np(plain(x))
    np.testing.assert_allclose(_np(layer(x)), expected, atol=2e-5 * max(1.0, np.abs(expected).max()))


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_side_gradients_equal_the_kernel_side(name, rng):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradients checked with tf.GradientTape")
    import tensorflow as tf

    grads = {}
    for mode in ("kernel", "activations"):
        layer, x = _built(name, mode, np.random.default_rng(0))
        assert bool(layer._activation_axes(x)) == (mode == "activations")
        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) ** 2)
        grads[mode] = [np.asarray(g) for g in tape.gradient(loss, [x] + layer.trainable_variables)]
    for kernel_side, activation_side in zip(grads["kernel"], grads["activations"]):
        np.testing.assert_allclose(activation_side, kernel_side, atol=1e-5 * max(1.0, np.abs(kernel_side).max()))


def test_the_choice_does_not_change_config_fold_or_kernel(rng):
    layer, x = _built("freqreg-conv-tail", "activations", rng)
    assert layer.get_config()["channel_transform"] == "activations"
    assert "channel_transform" not in layer.plain_config()
    np.testing.assert_allclose(_np(layer.kernel), _scipy_kernel(layer), atol=1e-5)


def _transform(n_in, n_out, window=3):
    return SpectralTransform((window, window, n_in, n_out), (0, 1, 2, 3))


def _brute_force_cost(transform, extents, moved, positions, window):
    """The multiply-adds of one call for each choice, counted per tensor."""
    n_in, n_out = transform.shape[2], transform.shape[3]
    c_in = extents[2] if 2 in moved else n_in
    c_out = extents[3] if 3 in moved else n_out
    box = np.prod(extents)
    total = 2 * positions[1] * window * c_in * c_out
    total += 2 * positions[0] * n_in * extents[2] if 2 in moved else 2 * box * n_in
    total += 2 * positions[1] * n_out * extents[3] if 3 in moved else 2 * box * n_out
    return total


@pytest.mark.parametrize("maps,channels,kept", [(4, 512, 1.0), (32, 64, 1.0), (8, 256, 0.1), (16, 128, 0.5), (32, 16, 0.05)])
def test_auto_picks_the_cheapest_side_of_an_independent_count(maps, channels, kept):
    transform = _transform(channels, channels)
    side = max(1, round(channels * kept))
    extents = (3, 3, side, side)
    positions = (64 * maps * maps, 64 * maps * maps)
    choices = [(), (2,), (3,), (2, 3)]
    best = min(choices, key=lambda c: _brute_force_cost(transform, extents, c, positions, 9))
    assert activation_axes(transform, extents, (2, 3), positions, 9) == best


def test_the_papers_late_and_early_layers_go_to_their_cheaper_sides():
    late = activation_axes(_transform(512, 512), (3, 3, 512, 512), (2, 3), (64 * 16, 64 * 16), 9)
    early = activation_axes(_transform(64, 64), (3, 3, 64, 64), (2, 3), (64 * 1024, 64 * 1024), 9)
    assert late == (2, 3) and early == ()
    assert activation_axes(_transform(512, 512), (3, 3, 512, 512), (2, 3), (64 * 16, 64 * 16), 9, "kernel") == ()
    assert activation_axes(_transform(64, 64), (3, 3, 64, 64), (2, 3), (1, 1), 9, "activations") == (2, 3)


def test_bad_channel_transform_is_refused():
    with pytest.raises(ValueError, match="`channel_transform`"):
        FreqRegConv2D(4, 3, channel_transform="both")
