"""Training-step time of FreqReg layers against plain Keras layers.

Builds the CIFAR ResNet18 with plain layers and with FreqReg layers (every
convolution and the classifier) at kept fractions 100 %, 1 % and 0.1 % (zigzag
tail masks), and times them in interleaved rounds in one process. With a sparse
spectrum the kernels are rebuilt from the kept block only (truncated bases),
so the 1 % and 0.1 % models should cost no more than the 100 % one.

    python benchmarks/freqreg_overhead.py [--batch 64] [--steps 3] [--rounds 5]
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."), os.path.dirname(os.path.abspath(__file__))]

import keras  # noqa: E402
import ab_timing  # noqa: E402
from ab_timing import compare  # noqa: E402

import dct_keras  # noqa: E402
from dct_keras.models import resnet18_cifar  # noqa: E402
from dct_keras.spectral.masks import kept_count  # noqa: E402


def with_kept_fraction(model, fraction):
    for weight in dct_keras.spectral_weights(model):
        weight.set_mask(weight.zigzag_mask(kept_count(weight.size, fraction, 1)), kept_fraction=fraction)
    return model


def main(argv=None):
    parser = ab_timing.parser(__doc__.splitlines()[0], batch=64, steps=3, rounds=5)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    models = {"plain": resnet18_cifar("plain")}
    for fraction, label in ((1.0, "freqreg 100%"), (0.01, "freqreg 1%"), (0.001, "freqreg 0.1%")):
        models[label] = with_kept_fraction(resnet18_cifar("freqreg"), fraction)
    compare(models, "plain", args.batch, (32, 32, 3), 10, args.steps, args.rounds, "ResNet18-CIFAR")


if __name__ == "__main__":
    main()
