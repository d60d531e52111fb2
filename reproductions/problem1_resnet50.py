"""dct_conv.txt Table V, Problem 1 (ResNet50 on CIFAR-100): `dct-keras run problem1_resnet50 [options]`."""

from _entry import main

if __name__ == "__main__":
    main("run", "problem1_resnet50")
