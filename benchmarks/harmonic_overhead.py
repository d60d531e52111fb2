"""Train-step time and peak memory of harmonic blocks against Conv2D.

Four versions of one network (four 3x3 layers of 64 channels on 32x32 inputs,
then a classifier): Conv2D, HarmonicConv with BN, without BN (separate
depthwise DCT bank + 1x1) and merged (one convolution with kernel sum w psi).
Step times are interleaved in one process; the growth of the peak memory
(max RSS) during training is measured for each version in a fresh subprocess,
since a process's peak only grows.
Target: merged within 1.05x of Conv2D.

    python benchmarks/harmonic_overhead.py [--batch 64] [--steps 5] [--rounds 5]
"""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."), os.path.dirname(os.path.abspath(__file__))]

import keras  # noqa: E402
import ab_timing  # noqa: E402
from ab_timing import compare  # noqa: E402

from dct_keras import HarmonicConv  # noqa: E402

VERSIONS = {
    "conv2d": lambda: keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
    "harmonic+BN": lambda: HarmonicConv(64, 3, padding="same", activation="relu", batch_norm=True),
    "harmonic": lambda: HarmonicConv(64, 3, padding="same", activation="relu"),
    "merged": lambda: HarmonicConv(64, 3, padding="same", activation="relu", merged=True),
}


def network(version):
    return keras.Sequential(
        [keras.Input((32, 32, 64))] + [VERSIONS[version]() for _ in range(4)]
        + [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)]
    )


def peak_memory(version, batch, steps):
    """Growth (MiB) of the peak RSS while training ``version`` for ``steps``
    steps, in a fresh process: the peak after building the model and its
    batch is subtracted, so TensorFlow's own start-up does not mask it."""
    code = (
        "import json, resource; import ab_timing, harmonic_overhead as h; "
        "peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; "
        f"m = h.network({version!r}); m.compile('sgd', 'sparse_categorical_crossentropy'); "
        f"x, y = ab_timing.random_batch({batch}, (32, 32, 64), 10); m(x[:1]); before = peak(); "
        f"[m.train_on_batch(x, y) for _ in range({steps})]; print(json.dumps(peak() - before))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(os.path.abspath(__file__)),
                            capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = ab_timing.parser(__doc__.splitlines()[0], batch=64, steps=5, rounds=5)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    models = {version: network(version) for version in VERSIONS}
    compare(models, "conv2d", args.batch, (32, 32, 64), 10, args.steps, args.rounds, "4 x 3x3/64 on 32x32")
    print("\npeak memory growth while training (max RSS of a fresh process, 3 steps, minus its peak before):")
    for version in VERSIONS:
        print(f"{version:>14}: +{peak_memory(version, args.batch, 3):.0f} MiB")


if __name__ == "__main__":
    main()
