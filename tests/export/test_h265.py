"""CTNet's H.265 export (ctnet_h265.txt §4): round trips, bounds, refusals."""

import json

import keras
import numpy as np
import pytest

import dct_keras

av = pytest.importorskip("av")

from dct_keras.export.h265 import (  # noqa: E402
    H265FormatError, _decode_pixels, _manifest_digest, export_h265, load_h265, quantize,
)


def _signed(manifest):
    """A manifest edited and signed again (a consistent tamper: the checks after the checksum must catch it)."""
    manifest.pop("manifest_sha256", None)
    return json.dumps({**manifest, "manifest_sha256": _manifest_digest(manifest)})


def _model(rng):
    inputs = keras.Input((12, 12, 3))
    x = dct_keras.DCTConv2D(16, 3, padding="same", switch_off=0.3, mask_seed=3)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = dct_keras.DCTConv2D(40, 1, pointwise="channel_block_dct2d", pointwise_block=16)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(5)(x))
    model.compile("adam", "mse")
    model.fit(rng.random((8, 12, 12, 3)), rng.random((8, 5)), epochs=2, verbose=0)
    bn = model.layers[2]
    bn.moving_variance.assign(np.full(16, 1e-4, "float32"))  # tiny variances: must never decode negative
    return model


def test_lossless_export_is_bit_exact(rng, tmp_path):
    model = _model(rng)
    sizes = export_h265(model, tmp_path, bit_depth=8, progress=False)
    # the ratio's denominator: the plain model's float32 parameters, not the masks' bookkeeping
    assert sizes["float32"] == 4 * sum(int(np.prod(w.shape)) for w in dct_keras.fold(model).weights)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    _, frame_map, pixels = quantize(model, 8, 128)
    decoded = _decode_pixels(str(tmp_path / "coefficients.hevc"), manifest)
    assert len(decoded) == len(pixels) and all(np.array_equal(a, b) for a, b in zip(decoded, pixels))
    loaded = load_h265(tmp_path, progress=False)
    again = load_h265(tmp_path, progress=False)
    x = rng.random((3, 12, 12, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(again(x)))
    coded = {id(layer.coefficients) for layer in dct_keras.spectral_layers(model)}
    raw = [(old, new) for old, new in zip(model.weights, loaded.weights) if id(old) not in coded]
    assert len(raw) == len(model.weights) - len(coded)
    for old, new in raw:  # every raw tensor (BN, biases, masks) bit-exact; coefficients within half a step below
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(old), keras.ops.convert_to_numpy(new))
    for layer, original in zip(dct_keras.spectral_layers(loaded), dct_keras.spectral_layers(model)):
        mask = original.spectral_kernel.mask_numpy()
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.coefficients)[~mask], 0.0)
        difference = np.abs(keras.ops.convert_to_numpy(layer.coefficients) - keras.ops.convert_to_numpy(original.coefficients))
        steps = max(e["step"] for e in frame_map if e["tensor"] == dct_keras.spectral_layers(model).index(original))
        assert difference.max() <= steps / 2 + 1e-6  # the 8-bit quantization bound
    assert (keras.ops.convert_to_numpy(loaded.layers[2].moving_variance) >= 0).all()


def test_refuses_mismatched_truncated_or_unknown(rng, tmp_path):
    model = _model(rng)
    export_h265(model, tmp_path, progress=False)
    manifest_path = tmp_path / "manifest.json"
    original = manifest_path.read_text()

    manifest = json.loads(original)
    manifest["format"] = "dct_keras.h265/99"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(H265FormatError, match="unknown format"):
        load_h265(tmp_path, progress=False)

    manifest = json.loads(original)
    manifest["frames"][0]["low"] += 1e-4  # a tiny edit the probe might not see
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(H265FormatError, match="does not match its own checksum"):
        load_h265(tmp_path, progress=False)

    manifest = json.loads(original)
    for layer in manifest["model"]["config"]["layers"]:
        if layer["config"].get("pointwise") == "channel_block_dct2d":
            layer["config"]["pointwise_block"] = 8
    manifest_path.write_text(_signed(manifest))
    with pytest.raises(H265FormatError, match="wrong block size"):
        load_h265(tmp_path, progress=False)

    for key in ("probe", "files", "frame_order"):
        manifest = json.loads(original)
        del manifest[key]
        manifest_path.write_text(_signed(manifest))
        with pytest.raises(H265FormatError, match=f"lacks or mangles an entry .*{key}"):
            load_h265(tmp_path, progress=False)

    manifest_path.write_text(original)
    video = tmp_path / "coefficients.hevc"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    with pytest.raises(H265FormatError, match="truncated|checksum"):
        load_h265(tmp_path, progress=False)

    raw = tmp_path / "raw.npz"
    export_h265(model, tmp_path / "other", progress=False)
    raw.write_bytes((tmp_path / "other" / "raw.npz").read_bytes() + b"x")
    with pytest.raises(H265FormatError, match="do not belong together"):
        load_h265(tmp_path, progress=False)


def test_bad_arguments(rng, tmp_path):
    model = _model(rng)
    for kwargs, name in [(dict(bit_depth=9), "bit_depth"), (dict(lossless=False), "crf"), (dict(dither=2), "dither")]:
        with pytest.raises(ValueError, match=f"`{name}`"):
            export_h265(model, tmp_path, progress=False, **kwargs)


@pytest.mark.parametrize("crf", [12, 20, 28])
def test_lossy_exports_load_and_stay_near_the_model(rng, tmp_path, crf):
    # The probe is the model decoded from the written stream, so a lossy export loads.
    model = _model(rng)
    sizes = export_h265(model, tmp_path, bit_depth=8, lossless=False, crf=crf, progress=False)
    loaded = load_h265(tmp_path, progress=False)
    x = rng.random((3, 12, 12, 3)).astype("float32")
    reference = keras.ops.convert_to_numpy(model(x))
    error = np.abs(keras.ops.convert_to_numpy(loaded(x)) - reference).max()
    assert error < 0.5 * np.abs(reference).max() + 1e-3 and sizes["total"] > 0
