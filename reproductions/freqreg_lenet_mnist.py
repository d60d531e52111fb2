"""Reproduce frequency_regularization.txt, LeNet-300-100 and LeNet-5 on MNIST (Table 1).

See reproductions/freqreg_common.py for the options.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from freqreg_common import main  # noqa: E402

if __name__ == "__main__":
    main("freqreg_lenet_mnist")
