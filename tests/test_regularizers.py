"""CTNet's H.265 rate proxy against a NumPy reference: value, gradient, warm-up."""

import math

import keras
import numpy as np
import pytest

import dct_keras
from dct_keras.callbacks import RateWarmup
from dct_keras.regularizers import H265RateProxy, jpeg_scan_index, position_weights
from tests.autodiff import gradient


def _positions(shape, channel_positions="matrix", block=16):
    """w_pos by brute force: the JPEG table of a spatial kernel, the authors'
    whole-matrix ramp (or ours inside B x B blocks) over (output u, input v)."""
    pos = np.zeros(shape)
    for index in np.ndindex(*shape):
        if len(shape) == 4 and shape[0] * shape[1] > 1:
            pos[index] = 1 + jpeg_scan_index(shape[0], shape[1])[index[0], index[1]]
            continue
        v, u = index[-2], index[-1]
        if channel_positions == "matrix":
            pos[index] = 1 + u / max(shape[-1] - 1, 1) + v / max(shape[-2] - 1, 1)
        else:
            pos[index] = 1 + (u % block) / (block - 1) + (v % block) / (block - 1)
    return pos


def _reference(w, q=0.1, s=10.0, channel_positions="matrix"):
    """Rate and its gradient in plain NumPy (float64)."""
    a = np.abs(w) / q
    sig = 1.0 / (1.0 + np.exp(-s * (a - 0.5)))
    level = 1.0 + np.log2(1.0 + a)
    pos = _positions(w.shape, channel_positions)
    rate = float((sig * level * pos).sum())
    derivative = (s * sig * (1 - sig) * level + sig / ((1.0 + a) * math.log(2.0))) / q
    return rate, np.sign(w) * derivative * pos


def test_jpeg_scan_index_matches_the_standard_8x8_scan():
    standard = [0, 1, 5, 6, 14, 15, 27, 28]  # first row of the JPEG zigzag table
    np.testing.assert_array_equal(jpeg_scan_index(8, 8)[0], standard)
    np.testing.assert_array_equal(jpeg_scan_index(3, 3), [[0, 1, 5], [2, 4, 6], [3, 7, 8]])


@pytest.mark.parametrize("channel_positions", ["matrix", "block"])
@pytest.mark.parametrize("shape", [(3, 3, 4, 5), (1, 1, 20, 40), (33, 17)])
def test_rate_value_and_gradient_match_numpy(shape, channel_positions, rng):
    w = (rng.standard_normal(shape) * 0.2).astype("float32")
    proxy = H265RateProxy(strength=1e-3, q=0.1, channel_positions=channel_positions)
    rate, expected = _reference(w.astype("float64"), channel_positions=channel_positions)
    assert float(keras.ops.convert_to_numpy(proxy.rate(w))) == pytest.approx(rate, rel=1e-4)
    assert float(keras.ops.convert_to_numpy(proxy(w))) == pytest.approx(1e-3 * rate, rel=1e-4)
    np.testing.assert_allclose(gradient(lambda x: proxy.rate(x), w), expected, rtol=2e-3, atol=1e-3)


def test_channel_positions_ramp_over_the_matrix_or_each_block():
    weights = position_weights((1, 1, 20, 40), block=16, channel_positions="block")
    assert weights[0, 0, 0, 0] == 1.0 and weights[0, 0, 15, 15] == 3.0 and weights[0, 0, 16, 16] == 1.0
    assert weights[0, 0, 3, 0] == pytest.approx(1 + 3 / 15)
    weights = position_weights((1, 1, 20, 40), block=16)  # the authors' code: DC 1, the last (u, v) 3
    assert weights[0, 0, 0, 0] == 1.0 and weights[0, 0, 19, 39] == 3.0 and weights[0, 0, 16, 16] == pytest.approx(1 + 16 / 39 + 16 / 19)
    np.testing.assert_allclose(position_weights((64, 32)), _positions((64, 32)))


def test_the_l2_coupling_is_ramped_with_the_rate(rng):
    w = (rng.standard_normal((3, 3, 4, 5)) * 0.2).astype("float32")
    proxy = H265RateProxy(strength=1e-3, q=0.1, l2_ratio=2.0)
    rate = _reference(w.astype("float64"))[0]
    full = 1e-3 * (rate + 2.0 * float((w.astype("float64") ** 2).sum()))
    assert float(keras.ops.convert_to_numpy(proxy(w))) == pytest.approx(full, rel=1e-4)
    proxy.warmup.assign(0.25)
    assert float(keras.ops.convert_to_numpy(proxy(w))) == pytest.approx(0.25 * full, rel=1e-4)
    with pytest.raises(ValueError, match="channel_positions"):
        H265RateProxy(channel_positions="rows")


def test_without_the_rate_term_only_the_ramped_l2_coupling_remains(rng):
    # CTNet's reference run: the authors' loss with lambda_rate's term left out,
    # lambda_l2 = alpha lambda and the warm-up kept.
    w = (rng.standard_normal((3, 3, 4, 5)) * 0.2).astype("float32")
    proxy = H265RateProxy(strength=1e-3, q=0.1, l2_ratio=0.5, rate_term=False)
    proxy.warmup.assign(0.5)
    expected = 0.5 * 1e-3 * 0.5 * float((w.astype("float64") ** 2).sum())
    assert float(keras.ops.convert_to_numpy(proxy(w))) == pytest.approx(expected, rel=1e-5)
    again = H265RateProxy.from_config(proxy.get_config())
    assert again.rate_term is False and float(keras.ops.convert_to_numpy(again(w))) == pytest.approx(expected / 0.5, rel=1e-5)
    assert float(keras.ops.convert_to_numpy(H265RateProxy(1e-3, rate_term=False)(w))) == 0.0
    with pytest.raises(ValueError, match="rate_term"):
        H265RateProxy(rate_term=1)


def test_warmup_ramps_and_logs_per_layer(rng):
    proxy = H265RateProxy(1e-4)
    model = keras.Sequential([keras.Input((8, 8, 2)), dct_keras.DCTConv2D(4, 3, kernel_regularizer=proxy),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    seen = []
    probe = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(float(proxy.warmup.numpy()
                                           if hasattr(proxy.warmup, "numpy") else keras.ops.convert_to_numpy(proxy.warmup))))
    x, y = rng.standard_normal((8, 8, 8, 2)).astype("float32"), rng.standard_normal((8, 2)).astype("float32")
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[RateWarmup(warmup_epochs=2), probe])
    assert seen == [0.5, 1.0, 1.0]
    name = model.layers[0].name
    assert len(history.history[f"rate/{name}"]) == 3 and history.history["quantized_nonzero"][-1] >= 0
    model.fit(x, y, epochs=2, initial_epoch=0, verbose=0, callbacks=[RateWarmup(warmup_epochs=4)])
    assert float(keras.ops.convert_to_numpy(proxy.warmup)) == 0.5  # epoch 1 of a 4-epoch ramp: from the index alone


def test_serialization_and_bad_arguments(tmp_path, rng):
    model = keras.Sequential([keras.Input((8, 8, 2)), dct_keras.DCTConv2D(4, 3, kernel_regularizer=H265RateProxy(2e-5, q=0.05))])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].kernel_regularizer.get_config() == H265RateProxy(2e-5, q=0.05).get_config()
    for kwargs, name in [(dict(q=0), "q"), (dict(strength=-1), "strength"), (dict(block=0), "block"), (dict(sharpness="x"), "sharpness")]:
        with pytest.raises(ValueError, match=f"`{name}`"):
            H265RateProxy(**kwargs)
    with pytest.raises(ValueError, match="warmup_epochs"):
        RateWarmup(0)
