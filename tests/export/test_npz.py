import keras
import numpy as np
import pytest
from keras import ops

from dct_keras import DCTConv2D, FreqRegConv2D, FreqRegDense, count_params, load_compressed, save_compressed


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((8, 8, 2)),
        FreqRegConv2D(4, 3, kept_fraction=0.2),
        keras.layers.BatchNormalization(),
        DCTConv2D(4, 3, switch_off=0.6, mask_seed=seed),
        keras.layers.Flatten(),
        FreqRegDense(3, kept_fraction=0.05),
    ])


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_export_then_load_is_exact(dtype, rng, tmp_path):
    model = _model(0)
    x = rng.standard_normal((2, 8, 8, 2)).astype("float32")
    model.layers[1].moving_mean.assign(rng.standard_normal(4).astype("float32"))
    for weight in [w for layer in model.layers for w in getattr(layer, "spectral_weights", [])]:
        values = rng.standard_normal(weight.shape).astype(dtype).astype("float32")
        weight.coefficients.assign(values * weight.mask_numpy())
    path = tmp_path / "model.npz"
    save_compressed(model, path, dtype=dtype)
    other = _model(1)  # same architecture, other weights and masks
    load_compressed(other, path)
    np.testing.assert_array_equal(ops.convert_to_numpy(other(x)), ops.convert_to_numpy(model(x)))
    for a, b in zip(model.weights, other.weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))


def test_export_stores_only_kept_values(tmp_path):
    model = _model()
    save_compressed(model, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as data:
        values = [data[k] for k in data.files if k.endswith("_values")]
        bits = [k for k in data.files if k.endswith("_bits")]
    kept = sum(w.active_count() for layer in model.layers for w in getattr(layer, "spectral_weights", []))
    assert sum(v.size for v in values) == kept and all(v.dtype == np.float16 for v in values)
    assert len(bits) == 1  # only the DCT-Conv random mask; zigzag masks follow from their counts


def test_load_rejects_other_architecture(tmp_path):
    save_compressed(_model(), tmp_path / "m.npz")
    other = keras.Sequential([keras.Input((4,)), FreqRegDense(2)])
    with pytest.raises(ValueError, match="different architecture"):
        load_compressed(other, tmp_path / "m.npz")


def test_kept_kernel_counts_are_the_nonzero_kernel_coefficients(tmp_path):
    # The paper's "kept kernel parameters": kernel coefficients under the mask, biases excluded.
    model = _model()
    report = count_params(model)
    for layer in (model.layers[0], model.layers[2], model.layers[4]):
        mask = layer.spectral_kernel.mask_numpy()
        assert report.layers[layer.name].kernel == mask.size
        assert report.layers[layer.name].kernel_active == int(mask.sum())
    assert report.layers[model.layers[0].name].kernel_active == int(np.floor(0.2 * 72 + 0.5))
    assert report.kernel == sum(c.kernel for c in report.layers.values())
    assert report.layers[model.layers[1].name].kernel == 0  # batch norm: no spectral kernel
    assert "kernel kept" in report.format_table()
