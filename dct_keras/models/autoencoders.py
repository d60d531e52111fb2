"""The two CIFAR autoencoders of dct_conv.txt (Tables III and IV)."""

import keras
from keras import layers

from dct_keras.models.variants import LayerFactory


def autoencoder1(variant="plain", switch_off=0.0, input_shape=(32, 32, 3), seed=None, switch_off_policy="random"):
    """Autoencoder 1 (Table III, Problem 3).

    Conv 16x3x3 ReLU -> MaxPool 2x2 -> Conv 16x3x3 ReLU -> Dense 512 ->
    Dense 4096 sigmoid -> reshape 16x16x16 -> Conv2DT 16x3x3 ReLU ->
    UpSampling 2x2 -> Conv2DT 3x3x3 sigmoid. All convolutions use "same"
    padding (Table III's Dense 512 has 4096 x 512 + 512 weights, so the
    feature map before it is 16 x 16 x 16). The Dense 512 layer has no
    activation (Table III lists none).
    """
    convs = LayerFactory(variant, switch_off, seed, switch_off_policy=switch_off_policy)
    height, width, channels = input_shape
    inputs = keras.Input(input_shape)
    x = convs.conv(16, 3, padding="same", activation="relu", name="enc_conv1")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = convs.conv(16, 3, padding="same", activation="relu", name="enc_conv2")(x)
    x = layers.Flatten()(x)
    x = convs.dense(512, name="code")(x)
    x = convs.dense((height // 2) * (width // 2) * 16, activation="sigmoid", name="dec_dense")(x)
    x = layers.Reshape((height // 2, width // 2, 16))(x)
    x = convs.conv_transpose(16, 3, padding="same", activation="relu", name="dec_deconv1")(x)
    x = layers.UpSampling2D(2)(x)
    outputs = convs.conv_transpose(channels, 3, padding="same", activation="sigmoid", name="dec_deconv2")(x)
    return keras.Model(inputs, outputs, name=f"autoencoder1_{variant}")


ENCODER = (16, 32, 64, "pool", 128, 64, "pool", 32, 16)
DECODER = (16, 32, "up", 64, 128, "up", 64, 32, 16)


def autoencoder2(variant="plain", switch_off=0.0, input_shape=(32, 32, 3), seed=None, switch_off_policy="random"):
    """Autoencoder 2 (Table IV, Problem 4).

    Encoder: 3x3 ReLU convolutions 16, 32, 64, max-pool, 128, 64, max-pool,
    32, 16, then an 8-filter sigmoid code layer. Decoder: 3x3 ReLU transposed
    convolutions 16, 32, upsampling, 64, 128, upsampling, 64, 32, 16, and a
    3-filter sigmoid output. "same" padding throughout.
    """
    convs = LayerFactory(variant, switch_off, seed, switch_off_policy=switch_off_policy)
    inputs = keras.Input(input_shape)
    x = inputs
    for index, item in enumerate(ENCODER):
        x = layers.MaxPooling2D(2)(x) if item == "pool" else convs.conv(item, 3, padding="same", activation="relu", name=f"enc_conv{index}")(x)
    x = convs.conv(8, 3, padding="same", activation="sigmoid", name="code")(x)
    for index, item in enumerate(DECODER):
        x = layers.UpSampling2D(2)(x) if item == "up" else convs.conv_transpose(item, 3, padding="same", activation="relu", name=f"dec_deconv{index}")(x)
    outputs = convs.conv_transpose(input_shape[-1], 3, padding="same", activation="sigmoid", name="output")(x)
    return keras.Model(inputs, outputs, name=f"autoencoder2_{variant}")
