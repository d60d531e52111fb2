"""The papers' architectures, each buildable in the cnn / dct / dct_spatial variants."""

from dct_keras.models.autoencoders import autoencoder1, autoencoder2
from dct_keras.models.resnet50_cifar import resnet50_cifar
from dct_keras.models.variants import VARIANTS, ConvFactory
from dct_keras.models.vgg16_cifar import vgg16_cifar

BUILDERS = {
    "resnet50": resnet50_cifar,
    "vgg16": vgg16_cifar,
    "autoencoder1": autoencoder1,
    "autoencoder2": autoencoder2,
}

__all__ = ["BUILDERS", "VARIANTS", "ConvFactory", "autoencoder1", "autoencoder2", "resnet50_cifar", "vgg16_cifar"]
