"""Building blocks shared by the model builders."""

from keras import layers


def basic_block(factory, x, width, strides, name):
    """The ResNet basic block (He et al. 2016): 3x3 conv -> BN -> ReLU -> 3x3
    conv -> BN, added to the shortcut, ReLU. The shortcut is the identity, or
    a 1x1 convolution with BN where the shape changes (option B). Convolutions
    come from ``factory`` (`LayerFactory`) and have no bias."""
    y = factory.conv(width, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv1")(x)
    y = layers.Activation("relu")(layers.BatchNormalization(name=f"{name}_bn1")(y))
    y = factory.conv(width, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(name=f"{name}_bn2")(y)
    if strides != 1 or x.shape[-1] != width:
        x = factory.conv(width, 1, strides=strides, use_bias=False, name=f"{name}_shortcut")(x)
        x = layers.BatchNormalization(name=f"{name}_shortcut_bn")(x)
    return layers.Activation("relu")(layers.Add()([y, x]))
