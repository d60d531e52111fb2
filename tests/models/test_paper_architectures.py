"""Parameter counts of the DCT-Conv paper's architectures, row by row.

Where a table row contradicts its own architecture we assert the architecture
and name the slip (README, "Discrepancies in the papers' tables").
"""

import keras
import numpy as np
import pytest

from dct_keras import DCTConv2D, DCTConv2DTranspose, HarmonicConv, count_params
from dct_keras.models.harmonic_nets import harmonic_resnet50, wide_resnet
from dct_keras.models import (autoencoder1, autoencoder2, lenet5, lenet300, resnet18_cifar, resnet20_cifar, resnet50_cifar,
                              vgg16_cifar)

DCT_TYPES = (DCTConv2D, DCTConv2DTranspose)


def _trainable(report, *names):
    return sum(report.layers[n].trainable for n in names)


@pytest.fixture(scope="module")
def resnet_report():
    return count_params(resnet50_cifar("plain"))


# Table I rows: (name, stage, block indices, 3x3 column, 1x1 column). For the
# 64-wide IdentBl2D x2 the table prints 66,256 in 1x1 filters; the architecture
# gives 2 * (256*64+64 + 64*256+256) = 66,176.
TABLE_I = [
    ("ConvBl2D 64", 1, [0], 36_928, 37_440),
    ("IdentBl2D x2 64", 1, [1, 2], 73_856, 66_176),  # table prints 66,256
    ("ConvBl2D 128", 2, [0], 147_584, 230_528),
    ("IdentBl2D x3 128", 2, [1, 2, 3], 442_752, 395_136),
    ("ConvBl2D 256", 3, [0], 590_080, 919_808),
    ("IdentBl2D x5 256", 3, [1, 2, 3, 4, 5], 2_950_400, 2_627_840),
    ("ConvBl2D 512", 4, [0], 2_359_808, 3_674_624),
    ("IdentBl2D x2 512", 4, [1, 2], 4_719_616, 4_199_424),
]


@pytest.mark.parametrize("row", TABLE_I, ids=[r[0] for r in TABLE_I])
def test_resnet50_table_i_rows(resnet_report, row):
    _, stage, blocks, spatial, pointwise = row
    names3 = [f"s{stage}b{b}_conv2" for b in blocks]
    names1 = [f"s{stage}b{b}_{c}" for b in blocks for c in ("conv1", "conv3", "shortcut")]
    names1 = [n for n in names1 if n in resnet_report.layers]
    assert _trainable(resnet_report, *names3) == spatial
    assert _trainable(resnet_report, *names1) == pointwise


def test_resnet50_stem_head_and_totals(resnet_report):
    assert resnet_report.layers["stem_conv"].trainable == 1_792
    assert resnet_report.layers["classifier"].trainable == 204_900
    spatial = sum(c.trainable for n, c in resnet_report.layers.items() if n.endswith("conv2") or n == "stem_conv")
    pointwise = sum(
        c.trainable for n, c in resnet_report.layers.items()
        if n.endswith(("conv1", "conv3", "shortcut")) and n != "stem_conv"
    )
    # The sum of Table I's 3x3 column; §V-B's prose says 11,317,248.
    assert spatial == 11_322_816
    # The sum of the 1x1 column with the 66,256 slip corrected; the prose says 12,130,384.
    assert pointwise == 12_150_976
    batch_norm = sum(c.trainable for n, c in resnet_report.layers.items() if "bn" in n)
    assert resnet_report.trainable == spatial + pointwise + 204_900 + batch_norm


TABLE_II = [  # (layers, parameters)
    (["block1_conv1", "block1_conv2"], 38_720),
    (["block2_conv1", "block2_conv2"], 221_440),
    (["block3_conv1", "block3_conv2", "block3_conv3"], 1_475_328),
    (["block4_conv1", "block4_conv2", "block4_conv3"], 5_899_776),
    (["block5_conv1", "block5_conv2", "block5_conv3"], 7_079_424),
    (["fc"], 262_656),
    (["classifier"], 51_300),
]


def test_vgg16_table_ii():
    report = count_params(vgg16_cifar("plain"))
    for names, expected in TABLE_II:
        assert _trainable(report, *names) == expected, names
    batch_norm = sum(c.trainable for n, c in report.layers.items() if n.endswith("_bn"))
    assert report.trainable - batch_norm == 15_028_644  # the stated total excludes BN
    conv = sum(c.trainable for n, c in report.layers.items() if "conv" in n and not n.endswith("_bn"))
    conv_biases = 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512
    assert conv == 14_714_688  # the prose's 14,710,464 is this without the conv biases
    assert conv - conv_biases == 14_710_464


def test_autoencoder1_table_iii():
    report = count_params(autoencoder1("plain"))
    rows = [("enc_conv1", 448), ("enc_conv2", 2_320), ("code", 2_097_664), ("dec_dense", 2_101_248), ("dec_deconv1", 2_320), ("dec_deconv2", 435)]
    for name, expected in rows:
        assert report.layers[name].trainable == expected, name
    assert report.trainable == 4_204_435


def test_autoencoder2_table_iv():
    report = count_params(autoencoder2("plain"))
    expected = [448, 4_640, 18_496, 73_856, 73_792, 18_464, 4_624, 1_160, 1_168, 4_640, 18_496, 73_856, 73_792, 18_464, 4_624, 435]
    assert [c.trainable for c in report.layers.values() if c.trainable] == expected
    assert report.trainable == 390_955


@pytest.mark.parametrize("builder", [pytest.param(resnet50_cifar, marks=pytest.mark.slow),
                                     pytest.param(vgg16_cifar, marks=pytest.mark.slow), autoencoder1, autoencoder2])
@pytest.mark.parametrize("variant", ["dct", "dct_spatial"])
def test_variants_keep_counts_and_switch_off(builder, variant):
    plain = count_params(builder("plain"))
    model = builder(variant, switch_off=0.5, seed=0)
    report = count_params(model)
    assert (report.total, report.trainable) == (plain.total, plain.trainable)
    for layer in model.layers:
        kernel_size = getattr(layer, "kernel_size", None)
        if kernel_size is None:
            continue
        is_dct = isinstance(layer, DCT_TYPES)
        assert is_dct == (variant == "dct" or max(kernel_size) > 1), layer.name
    switched_off = report.trainable - report.active
    dct_layers = [l for l in model.layers if isinstance(l, DCT_TYPES)]
    if variant == "dct_spatial":  # the first convolution keeps every coefficient (Table V's p = 1 row)
        assert dct_layers[0].switch_off == 0.0 and dct_layers[0].spectral_kernel.active_count() == dct_layers[0].spectral_kernel.size
        dct_layers = dct_layers[1:]
    coefficients = sum(int(np.prod(l.coefficients.shape)) for l in dct_layers)
    assert abs(switched_off - coefficients / 2) <= len(model.layers)  # round(p n) per layer


@pytest.mark.slow
@pytest.mark.parametrize("p", [0.99, 0.999, 0.9999, 1.0])
def test_only_3x3_switches_off_the_papers_counts_and_still_sees_at_p_1(p):
    model = resnet50_cifar("dct_spatial", num_classes=100, switch_off=p, seed=0)
    dct_layers = [l for l in model.layers if isinstance(l, DCT_TYPES)]
    assert [l.name for l in dct_layers][0] == "stem_conv" and all(max(l.kernel_size) == 3 for l in dct_layers)
    for layer in dct_layers:
        size = layer.spectral_kernel.size
        off = size - layer.spectral_kernel.active_count()
        expected = 0 if layer.name == "stem_conv" else int(np.floor(p * size + 0.5))  # NumPy: round half up
        assert off == expected, layer.name
    if p == 1.0:  # four different images, four different outputs: the first layer and the shortcuts still see
        images = np.random.default_rng(0).standard_normal((4, 32, 32, 3)).astype("float32")
        outputs = model.predict(images, verbose=0)
        assert np.min(np.abs(outputs[:, None] - outputs[None]).sum(-1)[~np.eye(4, dtype=bool)]) > 1e-6


def test_cnn_variant_rejects_switch_off():
    with pytest.raises(ValueError, match="switch_off"):
        resnet50_cifar("plain", switch_off=0.5)


def test_unknown_variant_is_rejected():
    with pytest.raises(ValueError, match="variant"):
        vgg16_cifar("fft")


@pytest.mark.parametrize(
    "builder,trainable",
    [(lenet300, 266_610), (lenet5, 431_080), (resnet18_cifar, 11_173_962)],
)
def test_frequency_regularization_reference_counts(builder, trainable):
    # frequency_regularization.txt: LeNet300 "266K", LeNet5 "431K", ResNet18 11,173,962.
    assert count_params(builder("plain")).trainable == trainable


def test_resnet20_counts_he_et_al():
    # He et al. 2016 §4.2, n = 3, counted by hand: 3x3 convolutions (stem 3 -> 16, then six per stage at 16 / 32 / 64
    # with the stage's first taking the previous width), batch-norm scale + shift per channel, the classifier; plus
    # the two 1x1 projection shortcuts with their BN (option B). Option A's 269,722 is the published "0.27M".
    convs = 9 * (3 * 16 + 6 * 16 * 16 + (16 * 32 + 5 * 32 * 32) + (32 * 64 + 5 * 64 * 64))
    norms = 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)
    option_a = convs + norms + 64 * 10 + 10
    assert option_a == 269_722
    shortcuts = 16 * 32 + 32 * 64 + 2 * (32 + 64)
    assert count_params(resnet20_cifar("plain")).trainable == option_a + shortcuts


@pytest.mark.parametrize("builder", [lenet300, lenet5, resnet18_cifar, resnet20_cifar])
def test_freqreg_variant_replaces_every_conv_and_dense(builder):
    model = builder("freqreg")
    kinds = [type(l).__name__ for l in model.layers if hasattr(l, "kernel_size") or hasattr(l, "units")]
    assert kinds and all(kind.startswith("FreqReg") for kind in kinds)
    assert count_params(model).trainable == count_params(builder("plain")).trainable


def _millions(model):
    return round(count_params(model).trainable / 1e6, 1)


@pytest.mark.parametrize(
    "variant,levels,millions",
    [("plain", None, 36.5), ("harm1", None, 36.5), ("harm", None, 36.5), ("harm", 3, 24.4), ("harm", 2, 12.3), ("progressive", None, 15.7)],
)
def test_harmonic_wrn_parameters_table_1(variant, levels, millions):
    assert _millions(wide_resnet(variant, levels=levels)) == millions


@pytest.mark.parametrize("variant,millions", [("plain", 25.6), ("harm1", 25.6), ("harm", 25.6), ("progressive", 19.7)])
def test_harmonic_resnet50_parameters_table_2(variant, millions):
    assert _millions(harmonic_resnet50(variant)) == millions


def test_harmonic_wrn_structure():
    model = wide_resnet("harm", depth=10, width=1, levels=2)
    blocks = [l for l in model.layers if isinstance(l, HarmonicConv)]
    assert blocks[0].batch_norm and blocks[0].frequencies == 9  # first block: BN, full image spectrum
    assert all(not b.batch_norm and b.frequencies == 3 for b in blocks[1:])
    shortcuts = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert shortcuts and all(l.kernel_size == (1, 1) for l in shortcuts)  # projections unchanged
    # every normalization with PyTorch's momentum and epsilon (the authors' code), the harmonic block's too
    norms = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)] + [blocks[0].response_norm]
    assert len(norms) > 1 and all((n.momentum, n.epsilon) == pytest.approx((0.9, 1e-5)) for n in norms)
    progressive = wide_resnet("progressive", depth=10, width=1)
    assert [b.frequencies for b in progressive.layers if isinstance(b, HarmonicConv)] == [9, 9, 9, 6, 6, 3, 3]
    assert not any(isinstance(l, keras.layers.Dropout) for l in progressive.layers)
