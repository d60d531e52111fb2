"""Harmonic architectures of harmonic_networks.txt: WRN-28-10 and ResNet-50."""

import keras
from keras import layers

from dct_keras.layers.harmonic import HarmonicConv
from dct_keras.models.variants import PLAIN, check_variant

WRN_VARIANTS = (PLAIN, "harm1", "harm", "progressive")
# The authors' code is PyTorch: its batch normalizations move their averages by
# 0.1 of each batch (Keras momentum 0.9) and add 1e-5 to the variance; Keras's
# defaults (0.99, 1e-3) left the moving statistics of a short run far behind.
NORMALIZATION = dict(momentum=0.9, epsilon=1e-5)
SPECTRUM_NORMALIZATION = {f"batch_norm_{key}": value for key, value in NORMALIZATION.items()}  # HarmonicConv's


def _batch_norm():
    return layers.BatchNormalization(**NORMALIZATION)


def wide_resnet(variant=PLAIN, depth=28, width=10, num_classes=10, input_shape=(32, 32, 3), dropout=0.3,
                levels=None, l2=5e-4, seed=None, filter_normalization="l1"):
    """WRN-depth-width (Zagoruyko & Komodakis) and its harmonic versions.

    Pre-activation wide basic blocks (BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3),
    ``(depth - 4) / 6`` per group, widths 16k / 32k / 64k, 1x1 projection
    shortcuts where the shape changes, BN-ReLU-global pooling-Dense.

    Variants (harmonic_networks.txt Table 1):

    * ``"plain"`` – the WRN;
    * ``"harm1"`` – the first convolution is a harmonic block with BN inside;
    * ``"harm"`` – every 3x3 convolution is a harmonic block (BN inside the
      first), shortcut projections unchanged; ``levels`` (lambda) truncates the
      spectrum of every block but the first, which keeps the image spectrum;
    * ``"progressive"`` – as "harm" with no compression on 32x32 features,
      lambda = 3 on 16x16 and lambda = 2 on 8x8.

    Args:
        dropout: rate between the two convolutions of a block (0 for none).
        l2: L2 coefficient on every kernel, ``L2(l2 / 2)`` so that it equals
            PyTorch's coupled ``weight_decay=l2`` of the original WRN code.
        seed: unused (the filter banks are fixed); kept for a uniform builder API.
        filter_normalization: the harmonic blocks' DCT filters, "l1" (unit L1
            norm: the authors' CIFAR code, ``l1_norm=True``; the default) or
            "ortho" (orthonormal, effective kernels ~2.35x larger at init).

    Initialization: He-normal for every convolution, and for a harmonic
    block's ``(N * F, M)`` combination weights (fan-in ``N * F``), as the
    authors' CIFAR code (``kaiming_normal_``; Keras's is truncated). Their
    batch normalizations start with a random scale in [0, 1); these start
    at 1 (Keras's default), in both networks. Every batch normalization
    (the harmonic block's too) has PyTorch's momentum and epsilon, as theirs
    (`NORMALIZATION`).
    """
    variant = check_variant(variant, WRN_VARIANTS)
    if (depth - 4) % 6:
        raise ValueError(f"Invalid value for argument `depth`: expected 6 n + 4, received {depth}.")
    regularizer = keras.regularizers.L2(l2 / 2) if l2 else None
    blocks = (depth - 4) // 6

    def conv3x3(filters, strides, stage, first=False):
        common = dict(strides=strides, padding="same", use_bias=False, kernel_regularizer=regularizer)
        if variant == PLAIN or (variant == "harm1" and not first):
            return layers.Conv2D(filters, 3, kernel_initializer="he_normal", **common)
        stage_levels = {"harm": levels, "progressive": (None, 3, 2)[stage]}.get(variant)
        return HarmonicConv(filters, 3, batch_norm=first, levels=None if first else stage_levels,
                            normalization=filter_normalization, kernel_initializer="he_normal",
                            **SPECTRUM_NORMALIZATION, **common)

    inputs = keras.Input(input_shape)
    x = conv3x3(16, 1, 0, first=True)(inputs)
    for stage, filters in enumerate((16 * width, 32 * width, 64 * width)):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            y = layers.Activation("relu")(_batch_norm()(x))
            shortcut = x
            if x.shape[-1] != filters or strides != 1:
                shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False, kernel_regularizer=regularizer,
                                         kernel_initializer="he_normal")(y)
            y = conv3x3(filters, strides, stage)(y)
            y = layers.Activation("relu")(_batch_norm()(y))
            if dropout and variant != "progressive":
                y = layers.Dropout(dropout)(y)
            y = conv3x3(filters, 1, stage)(y)
            x = layers.Add()([y, shortcut])
    x = layers.Activation("relu")(_batch_norm()(x))
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_regularizer=regularizer)(x)
    return keras.Model(inputs, outputs, name=f"wrn_{depth}_{width}_{variant}")


RESNET50_VARIANTS = (PLAIN, "harm1", "harm", "progressive")


def harmonic_resnet50(variant="harm", num_classes=1000, input_shape=(224, 224, 3)):
    """ResNet-50 (no max-pool) and its harmonic versions (harmonic_networks.txt §5.2).

    The stride of each downsampling bottleneck is on its 3x3 convolution, and
    the max-pool is replaced by a stride-4 7x7 root. ``"harm1"`` makes the root
    a harmonic block with BN (7x7 DCT filters); ``"harm"`` also replaces every
    3x3 convolution by a merged harmonic block (no BN inside, L1-normalized
    filters, as on ImageNet); ``"progressive"`` adds lambda = 3 on 14x14
    features and lambda = 2 on 7x7. Batch normalizations with PyTorch's
    momentum and epsilon, as the authors' code (`NORMALIZATION`).
    """
    variant = check_variant(variant, RESNET50_VARIANTS)
    inputs = keras.Input(input_shape)
    if variant == PLAIN:
        x = layers.Conv2D(64, 7, strides=4, padding="same", use_bias=False)(inputs)
    else:
        x = HarmonicConv(64, 7, strides=4, padding="same", batch_norm=True, normalization="l1", use_bias=False,
                         **SPECTRUM_NORMALIZATION)(inputs)
    x = layers.Activation("relu")(_batch_norm()(x))
    for stage, (width, count) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3))):
        levels = {"progressive": (None, None, 3, 2)[stage]}.get(variant)
        for block in range(count):
            strides = 2 if stage > 0 and block == 0 else 1
            y = layers.Conv2D(width, 1, use_bias=False)(x)
            y = layers.Activation("relu")(_batch_norm()(y))
            if variant in ("harm", "progressive"):
                y = HarmonicConv(width, 3, strides=strides, padding="same", levels=levels, normalization="l1",
                                 merged=True, use_bias=False)(y)
            else:
                y = layers.Conv2D(width, 3, strides=strides, padding="same", use_bias=False)(y)
            y = layers.Activation("relu")(_batch_norm()(y))
            y = _batch_norm()(layers.Conv2D(4 * width, 1, use_bias=False)(y))
            shortcut = x
            if block == 0:
                shortcut = _batch_norm()(layers.Conv2D(4 * width, 1, strides=strides, use_bias=False)(x))
            x = layers.Activation("relu")(layers.Add()([y, shortcut]))
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"resnet50_{variant}")
