"""frequency_regularization.txt Table 1 (LeNet-300-100 / LeNet-5 on MNIST): `dct-keras run freqreg_lenet_mnist [options]`."""

from _entry import main

if __name__ == "__main__":
    main("run", "freqreg_lenet_mnist")
