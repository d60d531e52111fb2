"""The papers' architectures, each buildable in the variants of `LayerFactory`."""

from dct_keras.models.autoencoders import autoencoder1, autoencoder2
from dct_keras.models.lenet import lenet5, lenet300
from dct_keras.models.resnet18_cifar import resnet18_cifar
from dct_keras.models.resnet20_cifar import resnet20_cifar
from dct_keras.models.resnet50_cifar import resnet50_cifar
from dct_keras.models.variants import PLAIN, VARIANTS, LayerFactory, check_variant
from dct_keras.models.vgg16_cifar import vgg16_cifar

BUILDERS = {
    "resnet50": resnet50_cifar,
    "vgg16": vgg16_cifar,
    "autoencoder1": autoencoder1,
    "autoencoder2": autoencoder2,
    "resnet18": resnet18_cifar,
    "resnet20": resnet20_cifar,
    "lenet300": lenet300,
    "lenet5": lenet5,
}

# What each builder needs of its input images: (minimum side, divisor of the
# side), from its downsampling (max-pool / stride-2 stages; the autoencoders
# must give back the input's size, LeNet-5's valid 5x5 convolutions need room).
INPUT_REQUIREMENTS = {
    "resnet50": (16, 16),
    "vgg16": (32, 32),
    "autoencoder1": (2, 2),
    "autoencoder2": (4, 4),
    "resnet18": (8, 8),
    "resnet20": (4, 4),
    "lenet300": (1, 1),
    "lenet5": (16, 1),
    "wide_resnet": (8, 4),
}

__all__ = [
    "BUILDERS", "INPUT_REQUIREMENTS", "PLAIN", "check_variant", "VARIANTS", "LayerFactory", "autoencoder1", "autoencoder2", "lenet300", "lenet5",
    "resnet18_cifar", "resnet20_cifar", "resnet50_cifar", "vgg16_cifar",
]
