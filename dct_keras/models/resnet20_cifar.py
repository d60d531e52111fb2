"""ResNet-20 for CIFAR (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, §4.2)."""

from dct_keras.models.blocks import basic_resnet


def resnet20_cifar(variant="plain", num_classes=10, input_shape=(32, 32, 3), seed=None, kernel_initializer="he_normal",
                   normalization=None):
    """He et al.'s CIFAR ResNet with n = 3: 3x3 conv 16 -> BN -> ReLU, three
    stages of three basic blocks at widths 16 / 32 / 64 (stride 2 at the first
    block of stages 2 and 3), global average pooling, Dense softmax.

    Shortcuts: identity inside a stage; where the shape changes, a 1x1
    projection with batch normalization (He et al.'s option B). Their CIFAR
    runs used option A (zero-padded identity, 0.27M parameters); a 1x1 conv
    keeps every layer a convolution the spectral families convert and fold,
    at 2,560 more weights. Convolutions have no bias (BN follows).
    274,042 parameters for 10 classes (272,474 trainable).
    ``normalization``: arguments of every `BatchNormalization` (Keras's
    defaults when None; CTNet's recipes: PyTorch's, momentum 0.9, epsilon 1e-5).
    """
    return basic_resnet("resnet20_cifar", (16, 32, 64), 3, variant, num_classes, input_shape, seed, kernel_initializer,
                        normalization)
