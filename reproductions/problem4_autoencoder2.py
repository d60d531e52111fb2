"""dct_conv.txt Table V, Problem 4 (Autoencoder 2 on CIFAR-10): `dct-keras run problem4_autoencoder2 [options]`."""

from _entry import main

if __name__ == "__main__":
    main("run", "problem4_autoencoder2")
