"""dct_conv.txt Table V, Problem 3 (Autoencoder 1 on CIFAR-10): `dct-keras run problem3_autoencoder1 [options]`."""

from _entry import main

if __name__ == "__main__":
    main("run", "problem3_autoencoder1")
