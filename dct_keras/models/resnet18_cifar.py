"""ResNet18 for CIFAR (frequency_regularization.txt Table 2)."""

from dct_keras.models.blocks import basic_resnet


def resnet18_cifar(variant="plain", num_classes=10, input_shape=(32, 32, 3), seed=None, kernel_initializer="he_normal",
                   normalization=None):
    """The common CIFAR ResNet18: 3x3 conv 64 -> BN -> ReLU, basic blocks
    [2, 2, 2, 2] at widths 64 / 128 / 256 / 512 (stride 2 from the second
    stage, 1x1 projection shortcuts when the shape changes), global average
    pooling, Dense softmax. Convolutions have no bias (BN follows); 11,173,962
    trainable parameters for 10 classes, the paper's ResNet18-ref count.
    ``normalization``: arguments of every `BatchNormalization` (Keras's
    defaults when None; CTNet's recipes: PyTorch's, momentum 0.9, epsilon 1e-5).
    """
    return basic_resnet("resnet18_cifar", (64, 128, 256, 512), 2, variant, num_classes, input_shape, seed, kernel_initializer,
                        normalization)
