"""VGG16 for CIFAR (dct_conv.txt Table II)."""

import keras
from keras import layers

from dct_keras.models.variants import LayerFactory

BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))  # (filters, convs) per max-pool block


def vgg16_cifar(variant="plain", switch_off=0.0, num_classes=100, input_shape=(32, 32, 3), seed=None, l2=5e-4, switch_off_policy="random"):
    """VGG16-CIFAR as in dct_conv.txt Table II (Problem 2).

    Thirteen 3x3 ReLU convolutions in five max-pooled blocks, each followed by
    batch normalization ("after each convolutional and dense layer there is a
    batch normalization layer"; no dropout after convolutions), then Dense 512
    ReLU -> batch normalization -> Dropout 0.5 -> Dense softmax. The output
    layer gets no batch normalization (it would act after the softmax).

    Args:
        variant: "plain", "dct" or "dct_spatial" (the same here: no 1x1 kernels).
        switch_off: switch-off probability of the DCT-Conv layers.
        switch_off_policy: "random" (the paper) or "tail" (see `DCTConv2D`).
        num_classes: classifier outputs.
        input_shape: image shape (32 x 32 gives a 512-wide flattened feature).
        seed: seeds the masks.
        l2: L2 coefficient on every kernel (DCT coefficients in DCT layers,
            equal to the penalty on the filters under the orthonormal DCT).
    """
    convs = LayerFactory(variant, switch_off, seed, switch_off_policy=switch_off_policy)
    regularizer = keras.regularizers.L2(l2) if l2 else None
    inputs = keras.Input(input_shape)
    x = inputs
    for block, (filters, count) in enumerate(BLOCKS, start=1):
        for index in range(1, count + 1):
            name = f"block{block}_conv{index}"
            x = convs.conv(filters, 3, padding="same", activation="relu", kernel_regularizer=regularizer, name=name)(x)
            x = layers.BatchNormalization(name=f"{name}_bn")(x)
        x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    x = layers.Flatten()(x)
    x = convs.dense(512, activation="relu", kernel_initializer="orthogonal", kernel_regularizer=regularizer, name="fc")(x)
    x = layers.BatchNormalization(name="fc_bn")(x)
    x = layers.Dropout(0.5)(x)
    outputs = convs.dense(num_classes, activation="softmax", kernel_initializer="glorot_uniform", kernel_regularizer=regularizer, name="classifier")(x)
    return keras.Model(inputs, outputs, name=f"vgg16_cifar_{variant}")
