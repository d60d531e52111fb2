"""reorder_dct_compression.txt §4 (ResNet-18-CIFAR compressed over the grid): `dct-keras run reorder_resnet18_cifar [options]`."""

from _entry import main

if __name__ == "__main__":
    main("run", "reorder_resnet18_cifar")
