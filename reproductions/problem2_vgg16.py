"""dct_conv.txt Table V, Problem 2 (VGG16 on CIFAR-10): `dct-keras run problem2_vgg16 [options]`."""

from _entry import main

if __name__ == "__main__":
    main("run", "problem2_vgg16")
