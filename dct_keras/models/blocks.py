"""Building blocks shared by the model builders."""

import keras
from keras import layers

from dct_keras.models.variants import LayerFactory


def basic_block(factory, x, width, strides, name, normalization=None):
    """The ResNet basic block (He et al. 2016): 3x3 conv -> BN -> ReLU -> 3x3
    conv -> BN, added to the shortcut, ReLU. The shortcut is the identity, or
    a 1x1 convolution with BN where the shape changes (option B). Convolutions
    come from ``factory`` (`LayerFactory`) and have no bias; ``normalization``:
    `BatchNormalization` arguments (e.g. momentum, epsilon), Keras's defaults
    when None."""
    normalization = normalization or {}
    y = factory.conv(width, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    y = layers.Activation("relu")(layers.BatchNormalization(name=f"{name}_bn1", **normalization)(y))
    y = factory.conv(width, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn2", **normalization)(y)
    if strides != 1 or x.shape[-1] != width:
        x = factory.conv(width, 1, strides=strides, use_bias=False, name=f"{name}_shortcut")(x)
        x = layers.BatchNormalization(name=f"{name}_shortcut_bn", **normalization)(x)
    return layers.Activation("relu")(layers.Add()([y, x]))


def basic_resnet(name, widths, blocks, variant, num_classes, input_shape, seed, kernel_initializer, normalization=None):
    """A CIFAR ResNet of basic blocks: 3x3 conv of ``widths[0]`` -> BN ->
    ReLU, then per stage ``blocks`` basic blocks of its width (stride 2 at the
    first block of every stage but the first), global average pooling, Dense
    softmax (``classifier``); layers named ``stem_conv``, ``s<stage>b<block>_*``;
    every BN with the arguments ``normalization`` (Keras's defaults when None)."""
    factory = LayerFactory(variant, seed=seed, kernel_initializer=kernel_initializer)
    inputs = keras.Input(input_shape)
    x = factory.conv(widths[0], 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = layers.Activation("relu")(layers.BatchNormalization(name="stem_bn", **(normalization or {}))(x))
    for stage, width in enumerate(widths, start=1):
        for block in range(blocks):
            strides = 2 if stage > 1 and block == 0 else 1
            x = basic_block(factory, x, width, strides, f"s{stage}b{block}", normalization)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = factory.dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=f"{name}_{variant}")
