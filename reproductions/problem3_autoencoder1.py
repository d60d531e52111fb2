"""Reproduce dct_conv.txt Table V, Problem 3 (Autoencoder 1). See reproductions/common.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import main  # noqa: E402

if __name__ == "__main__":
    main("problem3_autoencoder1", variants=None)
