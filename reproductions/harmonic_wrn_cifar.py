"""harmonic_networks.txt Table 1 (WRN and Harm-WRN on CIFAR): `dct-keras run harmonic_wrn_cifar [options]`."""

from _entry import main

if __name__ == "__main__":
    main("run", "harmonic_wrn_cifar")
