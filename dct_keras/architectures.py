"""The names of the papers' architectures and what each needs of its input
images, declared once (pure Python: a config is checked against them before
Keras loads; `dct_keras.models.BUILDERS` maps each name to its builder)."""

# Architecture -> (minimum side, divisor of the side) of the images it takes, from its downsampling
# (max-pool / stride-2 stages; the autoencoders must give back the input's size, LeNet-5's valid 5x5
# convolutions need room).
INPUT_REQUIREMENTS = {
    "resnet50": (16, 16),
    "vgg16": (32, 32),
    "autoencoder1": (2, 2),
    "autoencoder2": (4, 4),
    "resnet18": (8, 8),
    "resnet20": (4, 4),
    "lenet300": (1, 1),
    "lenet5": (16, 1),
}
# The harmonic method's Wide ResNet has a builder of its own (its variants are the harmonic ones).
OWN_BUILDERS = {"wide_resnet": (8, 4)}
ARCHITECTURES = tuple(INPUT_REQUIREMENTS)
