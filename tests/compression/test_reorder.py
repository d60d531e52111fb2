"""Reorder-DCT compression (reorder_dct_compression.txt) against NumPy references."""

import math

import keras
import numpy as np
import pytest
import scipy.fft

import dct_keras
from dct_keras.compression import compress, compression_table, l1_prune, nsse, plan_compression
from dct_keras.spectral import greedy_order


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _model(rng):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="first")(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.Conv2D(12, 1, name="conv1")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(4, name="head")(x))
    for layer in model.layers:
        layer.set_weights([rng.standard_normal(w.shape).astype("float32") for w in layer.get_weights()])
    return model


def _reference_compression(kernel, rows, kept, reorder=True):
    """Alg. 2 then Alg. 3 in plain NumPy / SciPy on a Keras-layout kernel."""
    axes = (3, 2, 0, 1) if kernel.ndim == 4 else (1, 0)
    paper = np.transpose(kernel, axes).astype("float64")
    matrix = paper.reshape(rows, -1)
    order = greedy_order(matrix.T, method="brute") if reorder else np.arange(matrix.shape[1])
    coefficients = scipy.fft.dct(matrix[:, order], norm="ortho", axis=1)
    coefficients[:, kept:] = 0
    restored = np.empty_like(matrix)
    restored[:, order] = scipy.fft.idct(coefficients, norm="ortho", axis=1)
    return np.transpose(restored.reshape(paper.shape), np.argsort(axes))


def test_rate_one_is_exact_and_the_order_inverts(rng):
    model = _model(rng)
    x = rng.standard_normal((2, 8, 8, 3)).astype("float32")
    compressed = compress(model, rows=4, compression_rate=1, progress=False)
    np.testing.assert_allclose(_np(compressed(x)), _np(model(x)), atol=1e-4, rtol=1e-4)
    for layer in dct_keras.spectral_layers(compressed):
        order = _np(layer.order)
        assert sorted(order.tolist()) == list(range(layer.columns))  # a permutation, stored as int32
        assert order.dtype == np.int32


@pytest.mark.parametrize("reorder", [True, False])
def test_compressed_kernels_match_the_numpy_reference(rng, reorder):
    model = _model(rng)
    compressed = compress(model, rows=4, compression_rate=3, reorder=reorder, progress=False)
    old = {layer.name: layer for layer in model.layers}
    for layer in dct_keras.spectral_layers(compressed):
        expected = _reference_compression(_np(old[layer.name].kernel), layer.rows, layer.kept, reorder)
        np.testing.assert_allclose(_np(layer.kernel), expected, atol=1e-5)
    assert "first" not in [layer.name for layer in dct_keras.spectral_layers(compressed)]  # skipped by default


def test_reordering_lowers_nsse_and_l1_keeps_t_per_row(rng):
    model = _model(rng)
    reordered = compression_table(model, compress(model, rows=2, compression_rate=4, progress=False))
    plain = compression_table(model, compress(model, rows=2, compression_rate=4, reorder=False, progress=False))
    assert reordered[-1]["nsse"] < plain[-1]["nsse"]
    row = next(r for r in reordered if r["layer"] == "conv3")
    assert row["params_after"] == row["rows"] * row["kept"] + (3 * 3 * 8 * 16) // 2 + 16  # coefficients + order + bias
    assert row["trainable_after"] == row["rows"] * row["kept"] + 16
    pruned, plans = l1_prune(model, rows=2, compression_rate=4, structure="weights")
    conv3 = next(p for p in plans if p.name == "conv3")
    kernel = np.transpose(_np(pruned.get_layer("conv3").kernel), (3, 2, 0, 1)).reshape(2, -1)
    assert ((kernel != 0).sum(axis=1) == conv3.kept).all()
    assert nsse(np.ones(4), np.zeros(4)) == 1.0


def test_l1_prunes_whole_columns_by_their_l1_norm_as_in_the_papers_table_1(rng):
    model = _model(rng)
    pruned, plans = l1_prune(model, rows=4, compression_rate=4)  # structure="columns", the paper's
    for plan in plans:
        original = _np(model.get_layer(plan.name).kernel)
        axes = (3, 2, 0, 1) if original.ndim == 4 else (1, 0)
        matrix = np.transpose(original, axes).reshape(plan.rows, -1)
        # Brute force: the t columns with the largest sum of |w| survive whole, the others are zero.
        norms = [sum(abs(matrix[r, c]) for r in range(plan.rows)) for c in range(matrix.shape[1])]
        kept = sorted(range(len(norms)), key=lambda c: (-norms[c], c))[:plan.kept]
        expected = np.zeros_like(matrix)
        expected[:, kept] = matrix[:, kept]
        got = np.transpose(_np(pruned.get_layer(plan.name).kernel), axes).reshape(plan.rows, -1)
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="structure"):
        l1_prune(model, structure="rows")


def test_progressive_formulas_on_the_papers_resnet50_sizes():
    model = keras.applications.ResNet50(weights=None)
    plans = plan_compression(model, rows=4, r0=0.25, strategy="progressive-r")
    assert len(plans) == 53 and "conv1_conv" not in [p.name for p in plans]
    reference = min(p.size for p in plans)
    assert reference == 64 * 64
    for plan in plans:
        rate = 1 + 0.25 * math.sqrt(plan.size) / math.sqrt(reference)
        assert plan.compression_rate == pytest.approx(rate) and plan.kept == int(plan.size / 4 / rate)
    by_name = {p.name: p for p in plan_compression(model, rows=2, compression_rate=8, strategy="progressive-g")}
    assert by_name["conv2_block1_1_conv"].rows == 2  # the paper's eq. (4): max(2, 2^0)
    assert by_name["conv5_block1_2_conv"].rows == 2 ** math.floor(math.log2(math.sqrt(3 * 3 * 512 * 512 / 4096)))  # 16
    assert by_name["predictions"].rows == 2 ** math.floor(math.log2(math.sqrt(2048 * 1000 / 4096)))  # the output Dense
    based = {p.name: p.rows for p in plan_compression(model, rows=8, compression_rate=8, strategy="progressive-g")}
    assert based["conv2_block1_1_conv"] == 8 and based["conv5_block1_2_conv"] == 16  # g is the base: max(g, 2^...)
    assert based != {name: plan.rows for name, plan in by_name.items()}  # a sweep over g changes the plans


@pytest.mark.parametrize("kwargs,argument", [
    (dict(rows=0), "rows"), (dict(rows=2.5), "rows"), (dict(compression_rate=0.5), "compression_rate"), (dict(compression_rate="8"), "compression_rate"),
    (dict(strategy="progressive-r"), "r0"), (dict(strategy="progressive-r", r0=-1), "r0"),
    (dict(strategy="greedy"), "strategy"), (dict(distance="manhattan"), "distance"), (dict(rows=5), "rows"),
    (dict(skip=["nope"]), "skip"),
])
def test_bad_arguments_are_rejected(rng, kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        compress(_model(rng), progress=False, **kwargs)


def test_a_model_with_nothing_to_compress_is_rejected():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="only")])
    with pytest.raises(ValueError, match="nothing to compress"):
        compress(model, skip=["only"], progress=False)


def test_absurd_rates_and_growing_layers_are_said(rng):
    model = _model(rng)
    with pytest.warns(UserWarning, match="less than one coefficient per row"):
        plan_compression(model, rows=2, compression_rate=1e12)
    with pytest.warns(UserWarning, match="grows"):
        plan_compression(model, rows=2, compression_rate=1)
