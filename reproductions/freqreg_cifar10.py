"""frequency_regularization.txt Table 2 (ResNet-18 / VGG16 on CIFAR-10): `dct-keras run freqreg_cifar10 [options]`."""

from _entry import main

if __name__ == "__main__":
    main("run", "freqreg_cifar10")
