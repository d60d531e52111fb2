"""ResNet18 for CIFAR (frequency_regularization.txt Table 2)."""

import keras
from keras import layers

from dct_keras.models.blocks import basic_block
from dct_keras.models.variants import LayerFactory


def resnet18_cifar(variant="plain", num_classes=10, input_shape=(32, 32, 3), seed=None, kernel_initializer="he_normal"):
    """The common CIFAR ResNet18: 3x3 conv 64 -> BN -> ReLU, basic blocks
    [2, 2, 2, 2] at widths 64 / 128 / 256 / 512 (stride 2 from the second
    stage, 1x1 projection shortcuts when the shape changes), global average
    pooling, Dense softmax. Convolutions have no bias (BN follows); 11,173,962
    trainable parameters for 10 classes, the paper's ResNet18-ref count.
    """
    factory = LayerFactory(variant, seed=seed, kernel_initializer=kernel_initializer)
    inputs = keras.Input(input_shape)
    x = factory.conv(64, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.Activation("relu")(layers.BatchNormalization(name="stem_bn")(x))
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            strides = 2 if stage > 1 and block == 0 else 1
            x = basic_block(factory, x, width, strides, f"s{stage}b{block}")
    x = layers.GlobalAveragePooling2D()(x)
    outputs = factory.dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=f"resnet18_cifar_{variant}")

