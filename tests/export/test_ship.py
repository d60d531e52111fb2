"""The shipping format: every layer family and plain layers round-trip within
the documented error bound (bit-exact at 32 bits), the weights decode with
NumPy alone, and a damaged, truncated or mismatched file is refused."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import dct_keras
from dct_keras import entropy
from dct_keras.compression import compress
from dct_keras.decode import ShippedFormatError, group_numbers, read_shipped
from dct_keras.export.ship import load_shipped, save_shipped

from tests.paths import ROOT



def _every_family():
    """A model with a layer of every spectral family and plain layers."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = dct_keras.DCTConv2D(6, 3, padding="same", switch_off=0.5, mask_seed=1)(inputs)  # random mask: bits
    x = keras.layers.BatchNormalization()(x)
    x = dct_keras.FreqRegConv2D(8, 3, padding="same", kept_fraction=0.3)(x)  # tail mask: a count
    x = dct_keras.HarmonicConv(8, 3, padding="same", levels=2)(x)
    x = dct_keras.DCTConv2DTranspose(4, 3, padding="same", switch_off=0.3, mask_seed=2)(x)
    x = keras.layers.Conv2D(16, 1)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = dct_keras.DCTDense(16, pointwise_block=8)(x)
    x = dct_keras.FreqRegDense(12, kept_fraction=0.5)(x)
    outputs = keras.layers.Dense(5)(x)
    model = keras.Model(inputs, outputs)
    for variable in model.weights:  # non-trivial values everywhere (batch-norm statistics included)
        if variable.dtype == "float32" and "mask" not in variable.path and "kept_fraction" not in variable.path:
            value = np.random.default_rng(len(variable.path)).standard_normal(variable.shape).astype("float32")
            variable.assign(np.abs(value) + 0.5 if "variance" in variable.path else value)
    for weight in dct_keras.spectral_weights(model):  # switched-off coefficients are zero
        weight.coefficients.assign(keras.ops.convert_to_numpy(weight.coefficients) * weight.mask_numpy())
    return model


def _reorder_model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return compress(keras.Model(inputs, keras.layers.Dense(4)(x)), rows=4, compression_rate=4, progress=False)


def _bound(original, bits, axis):
    """The documented per-value error bound of the codec a tensor gets (one
    scale per slice along ``axis``)."""
    if bits == 32:
        return np.zeros_like(original)
    if bits == 16 or original.ndim < 2:
        return np.abs(original) * 2.0 ** -11 + 6e-8  # float16: half an ulp
    moved = np.moveaxis(original, axis, -1)
    magnitude = np.abs(moved.reshape(-1, moved.shape[-1])).max(axis=0)
    return np.moveaxis(np.broadcast_to(magnitude / (2 ** (bits - 1) - 1) / 2 * (1 + 1e-6), moved.shape), -1, axis)


@pytest.mark.parametrize("bits", [32, 16, 8, 4])
@pytest.mark.parametrize("make", [_every_family, _reorder_model], ids=["families", "reorder"])
def test_every_weight_round_trips_within_its_codecs_bound(make, bits, tmp_path):
    model = make()
    path = tmp_path / "model.dctk"
    report = save_shipped(model, path, bits=bits)
    assert report["bytes"]["total"] == os.path.getsize(path) == sum(v for k, v in report["bytes"].items() if k != "total")
    shipped = read_shipped(path)
    axes = {e["path"]: e["group_axis"] for e in shipped.manifest["weights"]}
    for variable in model.weights:
        if variable.path not in shipped.weights:
            continue  # mask bookkeeping: restored from the mask entries
        original = keras.ops.convert_to_numpy(variable)
        decoded = shipped.weights[variable.path]
        if np.issubdtype(original.dtype, np.integer):
            np.testing.assert_array_equal(decoded, original)  # reorder's order indices: exact
            continue
        error = np.abs(decoded.astype("float64") - original)
        assert np.all(error <= _bound(original, bits, axes[variable.path])), (variable.path, bits, float(error.max()))
    loaded = load_shipped(path)
    for layer in dct_keras.spectral_layers(loaded):  # the masks come back as they were
        for weight, reference in zip(layer.spectral_weights, model.get_layer(layer.name).spectral_weights):
            np.testing.assert_array_equal(weight.mask_numpy(), reference.mask_numpy())
    x = np.random.default_rng(3).standard_normal((4, 8, 8, 3)).astype("float32")
    if bits == 32:
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    folded = load_shipped(path, fold=True)
    assert not dct_keras.spectral_layers(folded)
    reference = loaded.predict(x, verbose=0)  # outputs reach 1e4 here: float32 summation order matters at 1e-5 of that
    np.testing.assert_allclose(folded.predict(x, verbose=0), reference, rtol=1e-4, atol=1e-5 * np.abs(reference).max())


def test_masks_are_stored_as_counts_bits_or_nothing(tmp_path):
    model = _every_family()
    save_shipped(model, tmp_path / "m.dctk", bits=8)
    masks = {e["path"]: e["mask"] for e in read_shipped(tmp_path / "m.dctk").manifest["weights"] if e["storage"] == "spectral"}
    layer = {w.coefficients.path: type(l).__name__ for l in dct_keras.spectral_layers(model) for w in l.spectral_weights}
    kinds = {}
    for name, kind in masks.items():
        kinds.setdefault(layer[name], set()).add(kind)
    assert kinds["DCTConv2D"] == {"bits"} and kinds["FreqRegConv2D"] == {"tail"} and "all" in kinds["DCTDense"]


def test_reorder_rows_get_one_scale_each(tmp_path):
    model = _reorder_model()
    save_shipped(model, tmp_path / "m.dctk", bits=8)
    entries = {e["path"]: e for e in read_shipped(tmp_path / "m.dctk").manifest["weights"]}
    for layer in dct_keras.spectral_layers(model):
        entry = entries[layer.coefficients.path]
        assert entry["group_axis"] == 0 and entry["groups"] == layer.rows


def test_fewer_bits_give_a_smaller_file(tmp_path):
    model = _every_family()
    sizes = [save_shipped(model, tmp_path / f"{b}.dctk", bits=b)["bytes"]["payload"] for b in (32, 16, 8, 4)]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0] / 3


def _corrupt(path, position, out):
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    out.write_bytes(bytes(data))
    return out


def test_damaged_truncated_or_mismatched_files_are_refused(tmp_path):
    model = _every_family()
    good = tmp_path / "good.dctk"
    save_shipped(model, good, bits=8)
    other = tmp_path / "other.dctk"
    save_shipped(model, other, bits=4)
    data = good.read_bytes()
    header_length = int.from_bytes(data[8:12], "little")
    cases = {
        "header byte": (_corrupt(good, 20, tmp_path / "h.dctk"), "header does not match its checksum"),
        "payload byte": (_corrupt(good, 12 + header_length + 5, tmp_path / "p.dctk"), "do not match the manifest's checksum"),
        "trailer byte": (_corrupt(good, len(data) - 3, tmp_path / "t.dctk"), "header does not match its checksum"),
        "magic": (_corrupt(good, 0, tmp_path / "m.dctk"), "not a dct_keras shipped model"),
    }
    truncated = tmp_path / "cut.dctk"
    truncated.write_bytes(data[: len(data) // 2])
    cases["truncated"] = (truncated, "header does not match its checksum")
    tiny = tmp_path / "tiny.dctk"
    tiny.write_bytes(data[:10])
    cases["tiny"] = (tiny, "truncated")
    # The manifest of one file with the weights of another.
    other_data = other.read_bytes()
    other_header_length = int.from_bytes(other_data[8:12], "little")
    swapped = tmp_path / "swapped.dctk"
    swapped.write_bytes(data[: 12 + header_length] + other_data[12 + other_header_length:-16] + data[-16:])
    cases["swapped manifest"] = (swapped, "do not match the manifest's checksum")
    for name, (path, message) in cases.items():
        with pytest.raises(ShippedFormatError, match=message):
            load_shipped(path)
        assert name


def test_a_model_that_misses_its_probe_is_refused(tmp_path):
    # A well-formed file (checksums recomputed) whose weights do not give its probe.
    from dct_keras.export import ship

    model = _every_family()
    path = tmp_path / "m.dctk"
    save_shipped(model, path, bits=8)
    shipped = read_shipped(path)
    data = path.read_bytes()
    header_length = int.from_bytes(data[8:12], "little")
    manifest = shipped.manifest
    manifest["probe"]["outputs"] = [v * 1.01 + 0.01 for v in manifest["probe"]["outputs"]]
    ship._write(path, manifest, data[12 + header_length:-16])
    with pytest.raises(ShippedFormatError, match="differ from the probe"):
        load_shipped(path)
    del manifest["probe"]
    ship._write(path, manifest, data[12 + header_length:-16])
    with pytest.raises(ShippedFormatError, match="no probe"):
        load_shipped(path)


def _skewed_kernel_model():
    """A Dense kernel whose 4-bit codes are mostly small (Laplace values): the matched coder beats LZMA there."""
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256), keras.layers.Dense(3)])
    kernel = np.random.default_rng(0).laplace(0, 0.05, (64, 256)).astype("float32")
    model.layers[0].kernel.assign(kernel)
    return model


def test_the_matched_coder_is_chosen_per_tensor_where_it_is_smaller_and_decodes_exactly(tmp_path):
    from dct_keras.export.ship import integer_codes

    model = _skewed_kernel_model()
    report = save_shipped(model, tmp_path / "m.dctk", bits=4)
    shipped = read_shipped(tmp_path / "m.dctk")
    entries = {e["path"]: e for e in shipped.manifest["weights"]}
    kernel = entries[model.layers[0].kernel.path]
    assert kernel["coder"] == "rans" and report["coders"]["rans"] >= 1 and shipped.manifest["format"].endswith("/3")
    # The decoded kernel is exactly the codes times their scales (NumPy reference of the int4 codec).
    value = keras.ops.convert_to_numpy(model.layers[0].kernel)
    scales, codes = integer_codes(value, "int4", np.broadcast_to(np.arange(256), value.shape), 256)
    np.testing.assert_array_equal(shipped.weights[kernel["path"]], (codes.reshape(value.shape) * scales).astype("float32"))
    # The stream is the histogram's information content plus the states' bytes, within 1 %.
    counts = np.bincount(codes.astype(int) - kernel["table"]["low"])
    frequencies = np.asarray(kernel["table"]["frequencies"])
    bits = -np.sum(counts[counts > 0] * np.log2(frequencies[counts > 0] / 2 ** kernel["table"]["precision"]))
    assert bits / 8 <= kernel["stream_bytes"] <= bits / 8 * 1.01 + 8
    # A flipped byte in the stream part is refused (the payload checksum first).
    data = bytearray((tmp_path / "m.dctk").read_bytes())
    data[-20] ^= 0xFF
    (tmp_path / "bad.dctk").write_bytes(bytes(data))
    with pytest.raises(ShippedFormatError):
        read_shipped(tmp_path / "bad.dctk")


def _rd_model():
    """Rate-distortion layers whose codes are drawn from priors narrower and wider than their own (escapes)."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((12, 12, 3)), dct_keras.RDConv2D(16, 5, rate_weight=1e-4), keras.layers.Flatten(),
                              dct_keras.RDDense(96, rate_weight=1e-4), dct_keras.RDDense(4, rate_weight=1e-4)])
    rng = np.random.default_rng(3)
    for layer in dct_keras.spectral_layers(model):
        for weight in layer.coded_weights:
            scales = rng.uniform(0.05, 2.0, weight.group_shape).astype("float32")
            codes = np.round(rng.logistic(0, np.broadcast_to(scales * 1.2, weight.shape)))
            weight.assign_codes(codes, rng.uniform(0.002, 0.02, weight.group_shape), scales,
                                rng.uniform(-2, 4, weight.group_shape))
    return model


def test_rate_distortion_codes_ship_exactly_in_the_bytes_their_rate_predicts(tmp_path):
    model = _rd_model()
    save_shipped(model, tmp_path / "m.dctk", bits=8)
    shipped = read_shipped(tmp_path / "m.dctk")
    coded = [e for e in shipped.manifest["weights"] if e["storage"] == "coded"]
    weights = [w for layer in dct_keras.spectral_layers(model) for w in layer.coded_weights]
    assert len(coded) == len(weights) == 6 and sum(e["escapes"] for e in coded) > 0
    assert not any("slices" in e for e in coded)  # every slice holds a non-zero code: all of them coded
    for entry, weight in zip(coded, weights):
        codes, steps, scales, logits = shipped.coded[entry["path"]]
        # The priors as stored, a byte each: the tables of both sides come from these values.
        stored = [values.astype("float32") for values in entropy.unpack_priors(*entropy.pack_priors(weight.scales(), weight.zero_logits()))]
        np.testing.assert_array_equal(scales, stored[0].reshape(scales.shape))
        np.testing.assert_array_equal(logits, stored[1].reshape(logits.shape))
        np.testing.assert_allclose(logits, weight.zero_logits(), atol=1 / 16 + 1e-6)
        np.testing.assert_allclose(np.log2(scales), np.log2(weight.scales()), atol=1 / 32 + 1e-6)
        np.testing.assert_array_equal(codes, weight.codes())
        np.testing.assert_array_equal(steps, weight.steps().astype("float16").astype("float32"))
        np.testing.assert_array_equal(shipped.weights[entry["path"]], (codes * steps).astype("float32"))
    # The predicted size (the rate of the codes, in bytes) is the streams' size within 2 %.
    predicted = sum(float(keras.ops.convert_to_numpy(w.rate_bits())) for w in weights) / 8
    streams = sum(e["stream_bytes"] for e in coded)
    assert abs(streams - predicted) <= 0.02 * predicted, (streams, predicted)
    # Loaded, the model has the same codes and computes with the float16 steps.
    loaded = load_shipped(tmp_path / "m.dctk")
    for weight, again in zip(weights, [w for layer in dct_keras.spectral_layers(loaded) for w in layer.coded_weights]):
        np.testing.assert_array_equal(again.codes(), weight.codes())
    x = np.random.default_rng(0).standard_normal((2, 12, 12, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), rtol=2e-3,
                               atol=2e-3 * float(np.abs(keras.ops.convert_to_numpy(model(x))).max()))
    # The bit width reaches only the other weights: the coded entries are the same at 4 bits.
    save_shipped(model, tmp_path / "m4.dctk", bits=4)
    again = [e for e in read_shipped(tmp_path / "m4.dctk").manifest["weights"] if e["storage"] == "coded"]
    assert [e["stream_bytes"] for e in again] == [e["stream_bytes"] for e in coded]


def test_a_step_the_file_cannot_store_is_refused_by_name(tmp_path):
    model = _rd_model()
    weight = dct_keras.spectral_layers(model)[0].coded_weights[0]
    weight.log_step.assign(np.full(weight.group_shape, -30.0 / weight.log_speed, "float32"))  # exp(-30): float16's 0
    with pytest.raises(ValueError, match=f"{weight.coefficients.path}: a quantization step .* outside what the file"):
        save_shipped(model, tmp_path / "m.dctk")
    assert not (tmp_path / "m.dctk").exists()


def test_a_group_without_codes_ships_whatever_its_step(tmp_path):
    # A strong rate zeroes whole groups and lets their steps grow past float16: such a group decodes to zeros
    # whatever its step, so the file stores EMPTY_STEP for it; the groups with codes keep theirs.
    model = _rd_model()
    weight = dct_keras.spectral_layers(model)[0].coded_weights[0]
    log_step = keras.ops.convert_to_numpy(weight.log_step).copy()
    empty = np.zeros(weight.group_shape, bool)
    empty.flat[0] = True
    log_step[empty] = np.log(1e6) / weight.log_speed  # past float16's 65,504
    weight.log_step.assign(log_step)
    codes, in_group = weight.codes(), group_numbers(weight.shape, weight.group_shape) == 0
    assert not np.any(codes[in_group]) and np.any(codes[~in_group])  # the group holds no code, the others do
    save_shipped(model, tmp_path / "m.dctk")
    shipped = read_shipped(tmp_path / "m.dctk")
    stored_codes, steps, _, _ = shipped.coded[weight.coefficients.path]
    np.testing.assert_array_equal(stored_codes, codes)
    expected = np.where(empty, np.float32(2.0 ** -10), weight.steps().astype("float16").astype("float32"))
    np.testing.assert_array_equal(steps, expected)
    np.testing.assert_array_equal(shipped.weights[weight.coefficients.path][in_group], 0.0)


def _sparse_rd_model():
    """`_rd_model` with whole input and output slices of its kernels zero (a trained network's dead units)."""
    model = _rd_model()
    rng = np.random.default_rng(4)
    for layer in dct_keras.spectral_layers(model):
        weight = layer.coded_weights[0]
        codes = weight.codes()
        for axis in (-2, -1):
            shape = [1] * codes.ndim
            shape[axis] = codes.shape[axis]
            keep = rng.random(codes.shape[axis]) < 0.3
            keep[0] = True
            codes = codes * keep.reshape(shape)
        weight.assign_codes(codes, weight.steps(), weight.scales(), weight.zero_logits())
    return model


def test_coded_weights_ship_only_the_slices_that_hold_codes(tmp_path):
    from scipy.stats import logistic

    model = _sparse_rd_model()
    save_shipped(model, tmp_path / "m.dctk", bits=8)
    shipped = read_shipped(tmp_path / "m.dctk")
    entries = {e["path"]: e for e in shipped.manifest["weights"] if e["storage"] == "coded"}
    weights = [w for layer in dct_keras.spectral_layers(model) for w in layer.coded_weights]
    assert sum("slices" in e for e in entries.values()) == 2  # the convolution's and the 1024 x 96 kernel
    for weight in weights:
        entry = entries[weight.coefficients.path]
        codes, _, scales, logits = shipped.coded[entry["path"]]
        np.testing.assert_array_equal(codes, weight.codes())
        if "slices" not in entry:  # a bias; the 96 x 4 classifier, whose 14 bytes of bitmaps do not pay
            assert len(weight.shape) < 2 or weight.size < 500
            continue
        axes = [len(weight.shape) - 2, len(weight.shape) - 1]
        assert entry["slices"] == axes
        # The reference: the codes inside the slices that hold one, under the priors with the mass
        # outside the spike scaled by the removed share (SciPy's logistic), cost what the stream takes.
        active = [np.any(codes != 0, axis=tuple(a for a in range(codes.ndim) if a != axis)) for axis in axes]
        index = [np.arange(n) for n in codes.shape[:-2]] + [np.flatnonzero(a) for a in active]
        inside = codes[np.ix_(*index)]
        outside = np.minimum(codes.size / inside.size / (1 + np.exp(logits.astype(np.float64))), 1 - 2.0 ** -20)
        scale = np.broadcast_to(scales, inside.shape)
        mass = logistic.cdf(np.abs(inside) + 0.5, scale=scale) - logistic.cdf(np.abs(inside) - 0.5, scale=scale)
        probability = np.broadcast_to(1 - outside, inside.shape) * (inside == 0) + np.broadcast_to(outside, inside.shape) * mass
        bits = -np.log2(probability).sum()
        states = 4 * entropy.lanes_for(inside.size) + 2  # the rANS states and the last word
        assert abs(entry["stream_bytes"] - bits / 8) <= 0.02 * bits / 8 + states, (entry["stream_bytes"], bits / 8)
        # Stream and bitmaps: fewer bytes than all the codes under the model's own priors (its rate).
        bitmaps = sum((codes.shape[axis] + 7) // 8 for axis in axes)
        assert entry["stream_bytes"] + bitmaps < float(keras.ops.convert_to_numpy(weight.rate_bits())) / 8
    # Loaded (the probe checked), the model has the same codes.
    loaded = load_shipped(tmp_path / "m.dctk")
    for weight, again in zip(weights, [w for layer in dct_keras.spectral_layers(loaded) for w in layer.coded_weights]):
        np.testing.assert_array_equal(again.codes(), weight.codes())


# LeNet-5's rate-distortion file (lambda 1, seed 1) as the frontier shipped it before the priors took a byte each.
FLOAT16_PRIORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures",
                              "rd-lenet5-float16-priors.dctk")


def test_coded_files_with_float16_priors_still_load_and_reship_smaller(tmp_path):
    # Written before the priors took a byte each: they load, and shipped again the model decodes to the
    # same weights in 2 bytes less per group.
    old = read_shipped(FLOAT16_PRIORS)
    coded = [e for e in old.manifest["weights"] if e["storage"] == "coded"]
    assert coded and all("priors" not in e for e in coded)
    model = load_shipped(FLOAT16_PRIORS)
    save_shipped(model, tmp_path / "again.dctk")
    new = read_shipped(tmp_path / "again.dctk")
    for path, weight in old.weights.items():
        np.testing.assert_array_equal(new.weights[path], weight)
    groups = sum(int(np.prod(e["group_shape"])) for e in coded)
    old_bytes = sum(e["bytes"] + e["stream_bytes"] for e in coded)
    new_bytes = sum(e["bytes"] + e["stream_bytes"] for e in new.manifest["weights"] if e["storage"] == "coded")
    assert old_bytes - new_bytes >= 2 * groups - 8  # the streams may move by a few bytes under the rounded priors


def test_files_of_the_first_format_still_load(tmp_path):
    from dct_keras.decode import compress, digest, split_payload

    model = _skewed_kernel_model()
    save_shipped(model, tmp_path / "m.dctk", bits=8)
    shipped = read_shipped(tmp_path / "m.dctk")
    assert all("coder" not in e for e in shipped.manifest["weights"])  # 8-bit codes of this kernel: LZMA
    # The same weights written as format 1: the payload is the LZMA part alone.
    data = (tmp_path / "m.dctk").read_bytes()
    raw = split_payload(data[12 + int.from_bytes(data[8:12], "little"):-16])[0]
    payload = compress(raw)
    manifest = {**shipped.manifest, "format": "dct_keras.shipped/1",
                "payload": {"length": len(payload), "sha256": digest(payload).hex()}}
    header = compress(json.dumps(manifest).encode())
    (tmp_path / "old.dctk").write_bytes(b"DCTKSHIP" + len(header).to_bytes(4, "little") + header + payload + digest(header))
    old = load_shipped(tmp_path / "old.dctk")
    for a, b in zip(old.get_weights(), load_shipped(tmp_path / "m.dctk").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_files_with_a_longer_probe_still_load(tmp_path):
    """Files written before the probe was cut to `PROBE_VALUES` outputs hold
    every output of the probe input; they are checked on all of them."""
    from dct_keras.decode import compress, digest
    from dct_keras.export.ship import PROBE_VALUES, probe_outputs

    save_shipped(_every_family(), tmp_path / "m.dctk", bits=8)
    model = load_shipped(tmp_path / "m.dctk")
    every_output = probe_outputs(model, count=None)
    assert len(every_output) > PROBE_VALUES
    data = (tmp_path / "m.dctk").read_bytes()
    end = 12 + int.from_bytes(data[8:12], "little")

    def with_probe(outputs):
        manifest = {**read_shipped(tmp_path / "m.dctk").manifest, "probe": {"seed": 1234, "outputs": outputs}}
        header = compress(json.dumps(manifest).encode())
        path = tmp_path / f"probe{len(outputs)}-{outputs[-1]}.dctk"
        path.write_bytes(b"DCTKSHIP" + len(header).to_bytes(4, "little") + header + data[end:-16] + digest(header))
        return path

    assert len(load_shipped(with_probe(every_output.tolist())).weights) == len(model.weights)
    wrong_last = [*every_output[:-1].tolist(), -2.0 * float(every_output[-1]) - 1.0]  # beyond the first PROBE_VALUES
    with pytest.raises(ShippedFormatError, match="probe"):
        load_shipped(with_probe(wrong_last))


def test_the_weights_decode_with_numpy_alone(tmp_path):
    model = _every_family()
    path = tmp_path / "m.dctk"
    save_shipped(model, path, bits=6)
    save_shipped(_skewed_kernel_model(), tmp_path / "coded.dctk", bits=4)  # with an entropy-coded tensor
    save_shipped(_sparse_rd_model(), tmp_path / "rd.dctk", bits=8)  # rate-distortion codes, some slices empty
    rd_codes = {k.replace("/", "|"): v[0] for k, v in read_shipped(tmp_path / "rd.dctk").coded.items()}
    np.savez(tmp_path / "rd_codes.npz", **rd_codes)
    expected = read_shipped(path).weights
    np.savez(tmp_path / "expected.npz", **{k.replace("/", "|"): v for k, v in expected.items()})
    code = (
        "import sys\n"
        "sys.modules['keras'] = None; sys.modules['tensorflow'] = None; sys.modules['jax'] = None; sys.modules['torch'] = None\n"
        f"sys.path.insert(0, {ROOT!r})\n"
        "import numpy as np\n"
        "from dct_keras.decode import read_shipped\n"
        f"shipped = read_shipped({str(path)!r})\n"
        f"expected = np.load({str(tmp_path / 'expected.npz')!r})\n"
        "assert sorted(k.replace('/', '|') for k in shipped.weights) == sorted(expected.files)\n"
        "for k, v in shipped.weights.items(): np.testing.assert_array_equal(v, expected[k.replace('/', '|')])\n"
        "assert not any(m in sys.modules and sys.modules[m] is not None for m in ('keras', 'tensorflow'))\n"
        f"coded = read_shipped({str(tmp_path / 'coded.dctk')!r})\n"
        "assert any(e.get('coder') == 'rans' for e in coded.manifest['weights'])\n"
        f"rd = read_shipped({str(tmp_path / 'rd.dctk')!r}); rd_codes = np.load({str(tmp_path / 'rd_codes.npz')!r})\n"
        "assert len(rd.coded) == 6 and any('slices' in e for e in rd.manifest['weights'])\n"
        "for k, v in rd.coded.items(): np.testing.assert_array_equal(v[0], rd_codes[k.replace('/', '|')])\n"
        "print('decoded', len(shipped.weights))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "decoded" in result.stdout, result.stderr[-3000:]


def test_bad_bit_widths_are_refused(tmp_path):
    for bits in (1, 17, 24, 8.0, True):
        with pytest.raises(ValueError, match="`bits`"):
            save_shipped(_reorder_model(), tmp_path / "m.dctk", bits=bits)


def test_quantize_matches_a_numpy_reference_and_survives_keras_files_and_fold(tmp_path):
    model = _every_family()
    quantized = dct_keras.quantize(model, bits=6)
    for layer in dct_keras.spectral_layers(model):
        for weight, result in zip(layer.spectral_weights, quantized.get_layer(layer.name).spectral_weights):
            values = keras.ops.convert_to_numpy(weight.coefficients)
            mask = weight.mask_numpy()
            if values.ndim < 2:  # one-axis tensors ship as float16
                expected = values.astype("float16").astype("float32")
            else:  # symmetric 6-bit codes, one scale per last-axis slice of the kept values
                scale = np.array([np.abs(values[..., c][mask[..., c]]).max(initial=0.0) / 31 for c in range(values.shape[-1])])
                safe = np.where(scale > 0, scale, 1.0).astype("float32")
                expected = (np.round(values / safe) * scale.astype("float32")).astype("float32") * mask
            np.testing.assert_allclose(keras.ops.convert_to_numpy(result.coefficients), expected, rtol=1e-6, atol=1e-7)
    x = np.random.default_rng(5).standard_normal((2, 8, 8, 3)).astype("float32")
    quantized.save(tmp_path / "q.keras")
    reloaded = keras.models.load_model(tmp_path / "q.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), quantized.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    folded = dct_keras.fold(quantized)
    np.testing.assert_allclose(folded.predict(x, verbose=0), quantized.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_the_command_line_ships_checks_and_refuses_a_damaged_file(tmp_path):
    model = _reorder_model()
    model.save(tmp_path / "m.keras")
    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x_train=images, y_train=np.arange(16) % 4, x_test=images[:8], y_test=np.arange(8) % 4)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "dct_keras", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                              timeout=300)

    exported = run("export", tmp_path / "m.keras", "--bits", "6", "--out", tmp_path / "m.dctk")
    assert exported.returncode == 0 and "smaller than float32" in exported.stdout, exported.stderr[-2000:]
    checked = run("load-check", tmp_path / "m.dctk", "--data", tmp_path / "d.npz")
    assert checked.returncode == 0 and "the probe matches" in checked.stdout and "test accuracy" in checked.stdout
    _corrupt(tmp_path / "m.dctk", 30, tmp_path / "bad.dctk")
    refused = run("load-check", tmp_path / "bad.dctk")
    assert refused.returncode == 1 and refused.stderr.startswith("error: ") and "Traceback" not in refused.stderr
    bad_bits = run("export", tmp_path / "m.keras", "--bits", "1", "--out", tmp_path / "x.dctk")
    assert bad_bits.returncode == 2 and "--bits 1" in bad_bits.stderr
