"""ResNet50 for CIFAR (dct_conv.txt Table I and Fig. 2)."""

import keras
from keras import layers

from dct_keras.models.variants import LayerFactory

STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))  # (bottleneck width, blocks)


def resnet50_cifar(variant="plain", switch_off=0.0, num_classes=100, input_shape=(32, 32, 3), seed=None, switch_off_policy="random"):
    """ResNet50 with bottleneck blocks as in dct_conv.txt, Table I.

    Conv2D 64x3x3 -> BN -> ReLU -> MaxPool 2x2, then ConvBlock2D /
    IdentBlock2D x [3, 4, 6, 3] with widths (64, 64, 256) ... (512, 512, 2048),
    global average pooling and a Dense softmax classifier. A batch
    normalization follows every convolution (Fig. 2). The ConvBlock of the
    first stage keeps stride 1 (it follows the max-pool); the other stages
    downsample with stride 2 in the ConvBlock's first 1x1 convolution and its
    shortcut (the Keras/He et al. bottleneck layout).

    Args:
        variant: "plain", "dct" or "dct_spatial" (see `LayerFactory`).
        switch_off: switch-off probability ``p`` of the DCT-Conv layers.
        switch_off_policy: "random" (the paper) or "tail" (see `DCTConv2D`).
        num_classes: classifier outputs (100 for CIFAR-100).
        input_shape: image shape.
        seed: seeds the masks of the DCT-Conv layers.
    """
    convs = LayerFactory(variant, switch_off, seed, switch_off_policy=switch_off_policy)
    inputs = keras.Input(input_shape)
    x = convs.conv(64, 3, padding="same", name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D(2)(x)
    for stage, (width, blocks) in enumerate(STAGES, start=1):
        for block in range(blocks):
            strides = 2 if stage > 1 and block == 0 else 1
            x = _bottleneck(convs, x, width, strides, shortcut=block == 0, name=f"s{stage}b{block}")
    x = layers.GlobalAveragePooling2D()(x)
    outputs = convs.dense(num_classes, activation="softmax", kernel_initializer="glorot_uniform", name="classifier")(x)
    return keras.Model(inputs, outputs, name=f"resnet50_cifar_{variant}")


def _bottleneck(convs, x, width, strides, shortcut, name):
    """ConvBlock2D (``shortcut=True``) or IdentBlock2D of Fig. 2."""
    residual = x
    y = convs.conv(width, 1, strides=strides, name=f"{name}_conv1")(x)
    y = layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = layers.Activation("relu")(y)
    y = convs.conv(width, 3, padding="same", name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    y = layers.Activation("relu")(y)
    y = convs.conv(4 * width, 1, name=f"{name}_conv3")(y)
    y = layers.BatchNormalization(name=f"{name}_bn3")(y)
    if shortcut:
        residual = convs.conv(4 * width, 1, strides=strides, name=f"{name}_shortcut")(x)
        residual = layers.BatchNormalization(name=f"{name}_shortcut_bn")(residual)
    return layers.Activation("relu")(layers.Add()([y, residual]))
