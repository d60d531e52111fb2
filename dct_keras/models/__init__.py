"""The papers' architectures, each buildable in the cnn / dct / dct_spatial variants."""

from dct_keras.models.resnet50_cifar import resnet50_cifar
from dct_keras.models.variants import VARIANTS, ConvFactory

__all__ = ["VARIANTS", "ConvFactory", "resnet50_cifar"]
