"""Training-step time of DCT-Conv against plain convolution, A/B interleaved.

Builds the ResNet50-CIFAR layout three times: plain Conv2D ("cnn"), with its
3x3 convolutions replaced by DCTConv2D ("dct_spatial", or "dct" with
``--variant dct``) and the DCT model folded back to Conv2D ("folded"). Each
round times ``--steps`` training steps of every model in turn (after warm-up),
so drifts of the machine hit all models alike; the medians over rounds are
compared.

    python benchmarks/dct_conv_overhead.py [--batch 128] [--steps 5] [--rounds 5]

Paper: DCT-Conv training took "up to twice longer". Target here: <= 1.03x,
and 1.00x after `fold`.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."), os.path.dirname(os.path.abspath(__file__))]

import keras  # noqa: E402
import ab_timing  # noqa: E402
from ab_timing import compare  # noqa: E402

import dct_keras  # noqa: E402
from dct_keras.models import resnet50_cifar  # noqa: E402


def main(argv=None):
    parser = ab_timing.parser(__doc__.splitlines()[0], batch=128, steps=5, rounds=5)
    parser.add_argument("--variant", default="dct_spatial", choices=["dct_spatial", "dct"])
    parser.add_argument("--switch-off", type=float, default=0.0)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(0)
    dct = resnet50_cifar(args.variant, args.switch_off, seed=0)
    models = {"cnn": resnet50_cifar("cnn"), args.variant: dct, "folded": dct_keras.fold(dct)}
    compare(models, "cnn", args.batch, (32, 32, 3), 100, args.steps, args.rounds, "ResNet50-CIFAR")


if __name__ == "__main__":
    main()
