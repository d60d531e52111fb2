"""Reproduce dct_conv.txt Table V, Problem 4 (Autoencoder 2). See reproductions/common.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import main  # noqa: E402

if __name__ == "__main__":
    main("problem4_autoencoder2", variants=None)
