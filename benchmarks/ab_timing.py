"""Interleaved A/B timing of Keras training steps, shared by the benchmarks."""

import argparse
import statistics
import time

import keras
import numpy as np


def parser(description, batch, steps, rounds):
    """The options every benchmark takes: batch size, steps per round, rounds."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--batch", type=int, default=batch)
    result.add_argument("--steps", type=int, default=steps, help="timed steps per model per round")
    result.add_argument("--rounds", type=int, default=rounds)
    return result


def time_train_steps(models, x, y, steps, rounds, loss="sparse_categorical_crossentropy"):
    """Median seconds per `train_on_batch` step of each model.

    Every model is compiled and warmed up (traced) first; then each round times
    ``steps`` steps of every model in turn, so slow drifts of the machine hit
    all models alike.
    """
    for model in models.values():
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=loss)
        for _ in range(2):
            model.train_on_batch(x, y)
    times = {name: [] for name in models}
    for index in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(x, y)
            times[name].append((time.perf_counter() - start) / steps)
        print(f"round {index + 1}/{rounds}: " + ", ".join(f"{n} {t[-1]:.3f}s" for n, t in times.items()), flush=True)
    return {name: statistics.median(samples) for name, samples in times.items()}


def compare(models, baseline, batch, input_shape, classes, steps, rounds, title):
    """Times ``models`` on one random batch and prints their ratios to ``baseline``."""
    x, y = random_batch(batch, input_shape, classes)
    medians = time_train_steps(models, x, y, steps, rounds)
    print_ratios(medians, baseline, f"{title}, backend {keras.backend.backend()}, batch {batch}, "
                 f"median s/step over {rounds} rounds of {steps} steps")
    return medians


def print_ratios(medians, baseline, header):
    print(f"\n{header}")
    for name, median in medians.items():
        print(f"{name:>14}: {median:.4f} s/step   ratio to {baseline} {median / medians[baseline]:.3f}x")


def random_batch(batch, shape, classes):
    rng = np.random.default_rng(0)
    return rng.standard_normal((batch,) + shape).astype("float32"), rng.integers(0, classes, (batch,))
