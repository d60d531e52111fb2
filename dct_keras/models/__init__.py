"""The papers' architectures, each buildable in the variants of `LayerFactory`
(their names and input requirements: `dct_keras.architectures`)."""

import functools

from dct_keras import recipes
from dct_keras.architectures import ARCHITECTURES, OWN_BUILDERS
from dct_keras.architectures import INPUT_REQUIREMENTS as DECLARED_REQUIREMENTS

from dct_keras.models.autoencoders import autoencoder1, autoencoder2
from dct_keras.models.lenet import lenet5, lenet300
from dct_keras.models.resnet18_cifar import resnet18_cifar
from dct_keras.models.resnet20_cifar import resnet20_cifar
from dct_keras.models.resnet50_cifar import resnet50_cifar
from dct_keras.models.variants import PLAIN, VARIANTS, LayerFactory, check_variant
from dct_keras.models.vgg16_cifar import vgg16_cifar

_BUILDER_OF = {
    "resnet50": resnet50_cifar,
    "vgg16": vgg16_cifar,
    "autoencoder1": autoencoder1,
    "autoencoder2": autoencoder2,
    "resnet18": resnet18_cifar,
    "resnet20": resnet20_cifar,
    "lenet300": lenet300,
    "lenet5": lenet5,
}


def _recorded(name, builder):
    """``builder`` recording its call as the model's recipe (`dct_keras.recipes`)."""

    @functools.wraps(builder)
    def build(variant=PLAIN, **arguments):
        return recipes.record(builder(variant, **arguments), recipes.built(name, variant, arguments))

    return build


# Every declared architecture has its builder.
BUILDERS = {name: _recorded(name, _BUILDER_OF[name]) for name in ARCHITECTURES}
INPUT_REQUIREMENTS = {**DECLARED_REQUIREMENTS, **OWN_BUILDERS}


def rebuild(recipe):
    """The (freshly initialized) model of a recipe (`dct_keras.recipes`): its
    builder's call, then its conversions."""
    from dct_keras.surgery import convert

    model = BUILDERS[recipe["builder"]](recipe["variant"], **recipe["arguments"])
    for step in recipe.get("conversions", []):
        model = convert(model, to=step["to"], only_spatial=step["only_spatial"], keep_weights=False, seed=step["seed"],
                        dense=step["dense"], **step["options"])
    return model

__all__ = [
    "BUILDERS", "INPUT_REQUIREMENTS", "PLAIN", "rebuild", "check_variant", "VARIANTS", "LayerFactory", "autoencoder1", "autoencoder2", "lenet300", "lenet5",
    "resnet18_cifar", "resnet20_cifar", "resnet50_cifar", "vgg16_cifar",
]
