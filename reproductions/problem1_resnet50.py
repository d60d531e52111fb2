"""Reproduce dct_conv.txt Table V, Problem 1 (ResNet50, Table V rows 1-2). See reproductions/common.py."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import main  # noqa: E402

if __name__ == "__main__":
    main("problem1_resnet50", variants=['all', 'spatial'])
