import keras
import numpy as np
import pytest
import scipy.fft
from keras import ops

from dct_keras import FreqRegConv2D, FreqRegConv2DTranspose, FreqRegDense
from dct_keras.spectral import zigzag_order

CASES = [
    (FreqRegDense, dict(units=7), (None, 12), keras.layers.Dense),
    (FreqRegConv2D, dict(filters=5, kernel_size=3, padding="same"), (None, 8, 8, 4), keras.layers.Conv2D),
    (FreqRegConv2DTranspose, dict(filters=5, kernel_size=3, strides=2), (None, 8, 8, 4), keras.layers.Conv2DTranspose),
]
IDS = [c[0].__name__ for c in CASES]


def _np(x):
    return ops.convert_to_numpy(x)


@pytest.mark.parametrize("cls,kwargs,shape,plain_cls", CASES, ids=IDS)
def test_kernel_and_bias_are_nd_idct_of_tail_masked_coefficients(cls, kwargs, shape, plain_cls):
    layer = cls(**kwargs, kept_fraction=0.3, bias_initializer="ones")
    layer.build(shape)
    coefficients, mask = _np(layer.coefficients), _np(layer.mask)
    np.testing.assert_allclose(_np(layer.kernel), scipy.fft.idctn(coefficients * mask, norm="ortho"), atol=1e-5)
    n = mask.size
    assert int(mask.sum()) == int(np.floor(0.3 * n + 0.5))
    expected = np.zeros(n, bool)
    expected[zigzag_order(mask.shape)[: int(mask.sum())]] = True
    np.testing.assert_array_equal(mask.ravel().astype(bool), expected)
    bias_weight = layer.spectral_weights[1]
    bias_coefficients = _np(bias_weight.coefficients) * _np(bias_weight.mask)
    np.testing.assert_allclose(_np(layer.bias), scipy.fft.idct(bias_coefficients, norm="ortho"), atol=1e-6)


@pytest.mark.parametrize("cls,kwargs,shape,plain_cls", CASES, ids=IDS)
def test_everything_kept_computes_as_the_plain_layer(cls, kwargs, shape, plain_cls, rng):
    layer = cls(**kwargs, activation="relu")
    layer.build(shape)
    layer.spectral_kernel.coefficients.assign(rng.standard_normal(layer.spectral_kernel.shape).astype("float32"))
    layer.spectral_weights[1].coefficients.assign(rng.standard_normal(layer.spectral_weights[1].shape).astype("float32"))
    plain = plain_cls(**kwargs, activation="relu")
    plain.build(shape)
    plain.set_weights([_np(layer.kernel), _np(layer.bias)])
    x = rng.standard_normal((2,) + shape[1:]).astype("float32")
    np.testing.assert_allclose(_np(layer(x)), _np(plain(x)), atol=1e-5)


def test_transform_axes_and_plain_bias(rng):
    layer = FreqRegConv2D(4, 3, transform_axes=(0, 1), spectral_bias=False, kept_fraction=0.5)
    layer.build((None, 6, 6, 3))
    c = _np(layer.coefficients) * _np(layer.mask)
    np.testing.assert_allclose(_np(layer.kernel), scipy.fft.idctn(c, axes=(0, 1), norm="ortho"), atol=1e-5)
    assert len(layer.spectral_weights) == 1 and layer.bias.trainable
    # the spatial zigzag keeps whole low-frequency slices across channels
    mask = _np(layer.mask).astype(bool)
    assert mask[0, 0].all() and not mask[2, 2].any()


def test_no_bias():
    layer = FreqRegDense(3, use_bias=False)
    layer.build((None, 4))
    assert layer.bias is None and len(layer.spectral_weights) == 1


def test_truncated_reconstruction_matches_full(rng):
    layer = FreqRegConv2D(64, 3, kept_fraction=0.01)
    layer.build((None, 8, 8, 64))
    weight = layer.spectral_kernel
    weight.coefficients.assign(_np(weight.mask) * rng.standard_normal(weight.shape).astype("float32"))
    assert weight.extents[2] < 64 and weight.extents[3] < 64  # only the kept block is read
    full = weight.transform.inverse(_np(weight.coefficients) * _np(weight.mask))
    np.testing.assert_allclose(_np(layer.kernel), _np(full), atol=1e-5)
