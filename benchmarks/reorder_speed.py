"""Speed of reorder-DCT compression (reorder_dct_compression.txt Alg. 1-2).

    python benchmarks/reorder_speed.py [--rows 4] [--compression-rate 8] [--distance euclidean] [--workers N]

Compresses every Conv2D / Dense of `keras.applications.ResNet50(weights=None)`
(25.5M weights; the first convolution skipped, as in the paper) and prints the
time of each layer (ordering + DCT, in parallel threads) and of the whole
model. Target (issue 12): at most 60 s at g = 4 on 2 cores. The public
implementation's O(n^2) greedy search took ~72 minutes here for the same model.
The weights are random (He-uniform): the ordering's cost depends on the
number and dimension of the columns, not on trained values.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--compression-rate", type=float, default=8)
    parser.add_argument("--distance", default="euclidean", choices=["euclidean", "cosine"])
    parser.add_argument("--workers", type=int, default=None, help="threads (default: CPU count)")
    args = parser.parse_args()
    import keras
    import numpy as np

    from dct_keras.compression import compress, plan_compression
    from dct_keras.spectral.orders import greedy_order

    greedy_order(np.random.default_rng(0).random((4096, args.rows)))  # compile / load the numba kernel first
    model = keras.applications.ResNet50(weights=None)
    plans = plan_compression(model, rows=args.rows, compression_rate=args.compression_rate)
    print(f"ResNet50 (weights=None): {model.count_params():,} weights, {len(plans)} layers compressed, "
          f"{sum(p.size for p in plans):,} of their weights, g={args.rows}, r={args.compression_rate:g}, {args.distance}, "
          f"{args.workers or os.cpu_count()} threads on {os.cpu_count()} CPUs")
    start = time.perf_counter()
    compress(model, rows=args.rows, compression_rate=args.compression_rate, distance=args.distance, workers=args.workers)
    print(f"whole model: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
