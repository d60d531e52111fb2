"""ResNet-20 for CIFAR (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, §4.2)."""

import keras
from keras import layers

from dct_keras.models.blocks import basic_block
from dct_keras.models.variants import LayerFactory


def resnet20_cifar(variant="plain", num_classes=10, input_shape=(32, 32, 3), seed=None, kernel_initializer="he_normal"):
    """He et al.'s CIFAR ResNet with n = 3: 3x3 conv 16 -> BN -> ReLU, three
    stages of three basic blocks at widths 16 / 32 / 64 (stride 2 at the first
    block of stages 2 and 3), global average pooling, Dense softmax.

    Shortcuts: identity inside a stage; where the shape changes, a 1x1
    projection with batch normalization (He et al.'s option B). Their CIFAR
    runs used option A (zero-padded identity, 0.27M parameters); a 1x1 conv
    keeps every layer a convolution the spectral families convert and fold,
    at 2,560 more weights. Convolutions have no bias (BN follows).
    274,042 parameters for 10 classes (272,474 trainable).
    """
    factory = LayerFactory(variant, seed=seed, kernel_initializer=kernel_initializer)
    inputs = keras.Input(input_shape)
    x = factory.conv(16, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.Activation("relu")(layers.BatchNormalization(name="stem_bn")(x))
    for stage, width in enumerate((16, 32, 64), start=1):
        for block in range(3):
            strides = 2 if stage > 1 and block == 0 else 1
            x = basic_block(factory, x, width, strides, f"s{stage}b{block}")
    x = layers.GlobalAveragePooling2D()(x)
    outputs = factory.dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=f"resnet20_cifar_{variant}")

