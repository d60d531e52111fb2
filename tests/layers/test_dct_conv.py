import keras
import numpy as np
import pytest
import scipy.fft
from keras import ops

from dct_keras import DCTConv2D, DCTConv2DTranspose

LAYERS = [DCTConv2D, DCTConv2DTranspose]
PLAIN = {DCTConv2D: keras.layers.Conv2D, DCTConv2DTranspose: keras.layers.Conv2DTranspose}


def _np(x):
    return ops.convert_to_numpy(x)


def _built(cls, input_channels=6, size=8, **kwargs):
    kwargs.setdefault("filters", 5)
    kwargs.setdefault("kernel_size", 3)
    layer = cls(**kwargs)
    layer.build((None, size, size, input_channels))
    return layer


def _blockwise_idct(x, axis, block):
    parts = np.split(x, range(block, x.shape[axis], block), axis=axis)
    return np.concatenate([scipy.fft.idct(p, axis=axis, norm="ortho") for p in parts], axis=axis)


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("kernel_size", [3, (3, 5), (1, 3)])
def test_kernel_is_2d_idct_of_masked_coefficients(cls, kernel_size):
    layer = _built(cls, kernel_size=kernel_size, switch_off=0.4, mask_seed=3)
    coefficients, mask = _np(layer.coefficients), _np(layer.mask)
    expected = scipy.fft.idctn(coefficients * mask, axes=(0, 1), norm="ortho")
    np.testing.assert_allclose(_np(layer.kernel), expected, atol=1e-5)
    assert layer.kernel.shape == layer.coefficients.shape


@pytest.mark.parametrize("cls,channel_axis", [(DCTConv2D, 2), (DCTConv2DTranspose, 3)])
@pytest.mark.parametrize("channels,block", [(64, 16), (37, 16), (5, 16), (12, 4)])
def test_pointwise_channel_dct_uses_sub_rows(cls, channel_axis, channels, block):
    layer = _built(cls, input_channels=channels, kernel_size=1, pointwise_block=block, switch_off=0.3)
    coefficients = _np(layer.coefficients) * _np(layer.mask)
    np.testing.assert_allclose(_np(layer.kernel), _blockwise_idct(coefficients, channel_axis, block), atol=1e-5)


@pytest.mark.parametrize("cls", LAYERS)
def test_pointwise_none_uses_plain_weights(cls):
    layer = _built(cls, kernel_size=1, pointwise="none", switch_off=0.5)
    np.testing.assert_array_equal(_np(layer.kernel), _np(layer.coefficients) * _np(layer.mask))


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("strides,padding", [(1, "same"), (2, "valid"), (2, "same")])
def test_outputs_equal_plain_layer_with_materialized_kernel(cls, rng, strides, padding):
    layer = _built(cls, strides=strides, padding=padding, activation="relu", switch_off=0.2)
    layer.bias.assign(rng.standard_normal(5).astype("float32"))
    plain = PLAIN[cls](5, 3, strides=strides, padding=padding, activation="relu")
    plain.build((None, 8, 8, 6))
    plain.set_weights([_np(layer.kernel), _np(layer.bias)])
    x = rng.standard_normal((2, 8, 8, 6)).astype("float32")
    np.testing.assert_allclose(_np(layer(x)), _np(plain(x)), atol=1e-5)


@pytest.mark.parametrize("cls", LAYERS)
def test_dilation_and_no_bias(cls, rng):
    if cls is DCTConv2DTranspose and keras.backend.backend() == "tensorflow":
        pytest.skip("TensorFlow's CPU kernels have no dilated transposed convolution (plain Conv2DTranspose fails too)")
    layer = _built(cls, dilation_rate=2, use_bias=False, padding="same")
    assert layer.bias is None
    plain = PLAIN[cls](5, 3, dilation_rate=2, use_bias=False, padding="same")
    plain.build((None, 8, 8, 6))
    plain.set_weights([_np(layer.kernel)])
    x = rng.standard_normal((2, 8, 8, 6)).astype("float32")
    np.testing.assert_allclose(_np(layer(x)), _np(plain(x)), atol=1e-5)


def test_groups(rng):
    layer = _built(DCTConv2D, filters=4, groups=2, switch_off=0.5)
    assert layer.coefficients.shape == (3, 3, 3, 4)
    plain = keras.layers.Conv2D(4, 3, groups=2)
    plain.build((None, 8, 8, 6))
    plain.set_weights([_np(layer.kernel), _np(layer.bias)])
    x = rng.standard_normal((1, 8, 8, 6)).astype("float32")
    np.testing.assert_allclose(_np(layer(x)), _np(plain(x)), atol=1e-5)


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("p", [0.0, 0.3, 0.9, 0.999, 1.0])
def test_switched_off_coefficients_are_exact_count_and_zero(cls, p):
    layer = _built(cls, input_channels=16, filters=8, switch_off=p, mask_seed=5)
    mask, coefficients = _np(layer.mask), _np(layer.coefficients)
    n = mask.size
    assert n - int(mask.sum()) == int(np.floor(p * n + 0.5))
    assert np.all(coefficients[mask == 0] == 0)
    assert layer.spectral_kernel.active_count() == int(mask.sum())


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("kernel_size,pointwise", [(3, "channel_dct"), (1, "channel_dct"), (1, "none")])
def test_tail_policy_switches_off_the_highest_frequencies(cls, kernel_size, pointwise):
    layer = _built(cls, input_channels=20, filters=4, kernel_size=kernel_size, pointwise=pointwise,
                   switch_off=0.6, switch_off_policy="tail", mask_seed=3)
    mask = _np(layer.mask).astype(bool)
    transform = layer.spectral_kernel.transform
    level = transform.frequency_level()
    assert mask.size - mask.sum() == int(np.floor(0.6 * mask.size + 0.5))
    # every kept coefficient is at a frequency level no higher than any switched-off one
    assert level[mask].max() <= level[~mask].min()
    other_seed = _built(cls, input_channels=20, filters=4, kernel_size=kernel_size, pointwise=pointwise,
                        switch_off=0.6, switch_off_policy="tail", mask_seed=4)
    np.testing.assert_array_equal(_np(other_seed.mask), mask)


def test_same_seed_same_mask_other_seed_other_mask():
    a = _np(_built(DCTConv2D, switch_off=0.5, mask_seed=1).mask)
    b = _np(_built(DCTConv2D, switch_off=0.5, mask_seed=1).mask)
    c = _np(_built(DCTConv2D, switch_off=0.5, mask_seed=2).mask)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unseeded_layer_records_its_seed():
    layer = DCTConv2D(4, 3, switch_off=0.5)
    assert isinstance(layer.get_config()["mask_seed"], int)


def test_kernel_initializer_initializes_coefficients():
    layer = _built(DCTConv2D, kernel_initializer="ones", switch_off=0.0)
    np.testing.assert_array_equal(_np(layer.coefficients), np.ones((3, 3, 6, 5)))


def test_mask_is_stored_packed():
    layer = _built(DCTConv2D, input_channels=64, filters=64, switch_off=0.5)
    bits = layer.spectral_kernel.mask_bits
    assert bits.dtype == "uint8" and not bits.trainable
    assert int(np.prod(bits.shape)) * 32 <= int(np.prod(layer.coefficients.shape)) * 4 + 32


@pytest.mark.parametrize("cls", LAYERS)
def test_fit_step_leaves_switched_off_coefficients_at_zero(cls, rng):
    model = keras.Sequential(
        [keras.Input((8, 8, 4)), cls(6, 3, padding="same", switch_off=0.6, mask_seed=2), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    layer = model.layers[0]
    mask = _np(layer.mask).astype(bool)
    before = _np(layer.coefficients).copy()
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    x = rng.standard_normal((16, 8, 8, 4)).astype("float32")
    y = rng.standard_normal((16, 1)).astype("float32")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    after = _np(layer.coefficients)
    np.testing.assert_array_equal(after[~mask], 0.0)
    assert np.any(after[mask] != before[mask])
    np.testing.assert_array_equal(_np(layer.mask).astype(bool), mask)


def test_regularizer_applies_to_masked_coefficients():
    layer = _built(DCTConv2D, kernel_regularizer=keras.regularizers.L2(0.5), switch_off=0.5)
    masked = _np(layer.coefficients) * _np(layer.mask)
    (loss,) = layer.losses
    np.testing.assert_allclose(float(loss), 0.5 * np.sum(masked**2), rtol=1e-5)


def test_constraint_output_is_masked():
    layer = _built(DCTConv2D, kernel_constraint=lambda c: c + 1.0, switch_off=0.5)
    constrained = _np(layer.coefficients.constraint(layer.coefficients))
    np.testing.assert_array_equal(constrained[_np(layer.mask) == 0], 0.0)


def test_saved_mask_wins_over_seed(tmp_path):
    model = keras.Sequential([keras.Input((8, 8, 4)), DCTConv2D(4, 3, switch_off=0.5, mask_seed=1)])
    layer = model.layers[0]
    new_mask = ~_np(layer.mask).astype(bool)
    layer.spectral_kernel.set_mask(new_mask)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(_np(loaded.layers[0].mask).astype(bool), new_mask)


def test_kernel_before_build_is_a_clear_error():
    # The torch backend's Module.__getattr__ rewords the message; all name `kernel`.
    with pytest.raises(AttributeError, match="kernel"):
        DCTConv2D(4, 3).kernel


def test_lora_is_refused():
    with pytest.raises(NotImplementedError):
        _built(DCTConv2D).enable_lora(2)


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("channels,filters,block", [(32, 48, 16), (20, 7, 16), (12, 12, 4)])
def test_pointwise_channel_block_dct2d_is_blockwise_idctn(cls, channels, filters, block):
    import scipy.fft

    layer = cls(filters, 1, pointwise="channel_block_dct2d", pointwise_block=block, switch_off=0.0)
    layer.build((None, 4, 4, channels))
    coefficients = np.random.default_rng(0).standard_normal(layer.coefficients.shape).astype("float32")
    layer.coefficients.assign(coefficients)
    expected = np.zeros_like(coefficients, dtype="float64")
    rows, columns = coefficients.shape[2], coefficients.shape[3]
    for r in range(0, rows, block):
        for c in range(0, columns, block):
            expected[0, 0, r:r + block, c:c + block] = scipy.fft.idctn(
                coefficients[0, 0, r:r + block, c:c + block].astype("float64"), norm="ortho")
    np.testing.assert_allclose(_np(layer.kernel), expected, atol=1e-5)
