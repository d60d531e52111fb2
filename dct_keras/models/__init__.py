"""The papers' architectures, each buildable in the variants of `LayerFactory`."""

from dct_keras.models.autoencoders import autoencoder1, autoencoder2
from dct_keras.models.lenet import lenet5, lenet300
from dct_keras.models.resnet18_cifar import resnet18_cifar
from dct_keras.models.resnet50_cifar import resnet50_cifar
from dct_keras.models.variants import VARIANTS, LayerFactory
from dct_keras.models.vgg16_cifar import vgg16_cifar

BUILDERS = {
    "resnet50": resnet50_cifar,
    "vgg16": vgg16_cifar,
    "autoencoder1": autoencoder1,
    "autoencoder2": autoencoder2,
    "resnet18": resnet18_cifar,
    "lenet300": lenet300,
    "lenet5": lenet5,
}

__all__ = [
    "BUILDERS", "VARIANTS", "LayerFactory", "autoencoder1", "autoencoder2", "lenet300", "lenet5",
    "resnet18_cifar", "resnet50_cifar", "vgg16_cifar",
]
