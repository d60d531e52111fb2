"""LeNet-300-100 and LeNet-5 for MNIST (frequency_regularization.txt Table 1)."""

import keras
from keras import layers

from dct_keras.models.variants import LayerFactory


def lenet300(variant="plain", num_classes=10, input_shape=(28, 28, 1), seed=None, kernel_initializer="glorot_uniform"):
    """LeNet-300-100: Dense 300 ReLU -> Dense 100 ReLU -> Dense softmax.

    266,610 parameters for MNIST (the paper's "266K").
    """
    factory = LayerFactory(variant, seed=seed, kernel_initializer=kernel_initializer)
    inputs = keras.Input(input_shape)
    x = layers.Flatten()(inputs)
    x = factory.dense(300, activation="relu", name="fc1")(x)
    x = factory.dense(100, activation="relu", name="fc2")(x)
    outputs = factory.dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=f"lenet300_{variant}")


def lenet5(variant="plain", num_classes=10, input_shape=(28, 28, 1), seed=None, kernel_initializer="glorot_uniform"):
    """LeNet-5 in its Caffe form (the one DeepCompress and the paper compare):
    Conv 20x5x5 -> MaxPool 2 -> Conv 50x5x5 -> MaxPool 2 -> Dense 500 ReLU ->
    Dense softmax; 431,080 parameters for MNIST (the paper's "431K").
    """
    factory = LayerFactory(variant, seed=seed, kernel_initializer=kernel_initializer)
    inputs = keras.Input(input_shape)
    x = factory.conv(20, 5, name="conv1")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = factory.conv(50, 5, name="conv2")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = factory.dense(500, activation="relu", name="fc1")(x)
    outputs = factory.dense(num_classes, activation="softmax", name="classifier")(x)
    return keras.Model(inputs, outputs, name=f"lenet5_{variant}")
