"""Reproduce frequency_regularization.txt, ResNet18 and VGG16 on CIFAR-10 (Table 2).

See reproductions/freqreg_common.py for the options.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from freqreg_common import main  # noqa: E402

if __name__ == "__main__":
    main("freqreg_cifar10")
