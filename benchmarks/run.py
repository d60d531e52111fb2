"""Train-step overhead of every spectral method against plain Keras (issue 14).

    python benchmarks/run.py [--quick] [--only NAME ...] [--rounds N] [--memory] [--json PATH]
    python benchmarks/run.py --table      # the README's results table, from the JSON file

Method (the reliable one on a shared 2-core machine): each comparison builds
its models, warms each up (traced), then runs rounds in which every model does
ONE `train_on_batch` step, in an order that alternates (A B B A ...); the ratio
of a variant is the median over rounds of its step time divided by the
baseline's step time in the same round. Run it with nothing else on the
machine. With ``--memory``, each model also trains 3 steps in a fresh process
and the growth of its peak RSS over those steps (tracing included, building
excluded) is reported.

Comparisons (targets in brackets):

* ``dct_small`` – 5 3x3 conv layers (64-256 filters) on 32x32, batch 64:
  Conv2D vs DCTConv2D p = 0 / p = 0.5 / folded  [<= 1.03x, folded 1.00x]
* ``dct_resnet50`` – ResNet50-CIFAR, batch 128: Conv2D vs DCT-Conv 3x3 vs folded
* ``freqreg_resnet18`` – ResNet18-CIFAR, batch 64: plain vs FreqReg 100 % / 1 %
  kept  [<= 1.05x / <= 1.02x]
* ``harmonic`` – four 3x3/64 layers on 32x32x64, batch 64: Conv2D vs
  HarmonicConv merged (the default without BN) / unmerged / with BN  [merged <= 1.05x]
* ``ae1_first_epoch`` – Autoencoder 1 with FreqReg layers (its FreqRegDense
  has a 4096-long axis), 3 epochs of `fit` on 50,000 (``--quick``: 10,000)
  random 32x32x3 images, batch 64: the first epoch (tracing included) over
  the median of the later ones  [<= 1.2x]

Writes the table to stdout and updates a JSON file (``benchmarks/results.json``
by default; each comparison measured replaces its entry, with the date) that
the README's results table is made from (``--table``).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _small_net(factory):
    import keras

    inputs = keras.Input((32, 32, 3))
    x = inputs
    for filters in (64, 128, 128, 256, 256):
        x = factory(filters)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def _harmonic_net(make):
    import keras

    inputs = keras.Input((32, 32, 64))
    x = inputs
    for _ in range(4):
        x = make()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def comparisons(quick):
    """name -> (builder of {label: model} with the baseline first, batch, input shape)."""
    import keras

    import dct_keras
    from dct_keras.models import resnet18_cifar, resnet50_cifar
    from dct_keras.spectral.masks import kept_count

    def dct_small():
        conv = lambda f: keras.layers.Conv2D(f, 3, padding="same", activation="relu")  # noqa: E731
        dct0 = lambda f: dct_keras.DCTConv2D(f, 3, padding="same", activation="relu", switch_off=0.0)  # noqa: E731
        dct5 = lambda f: dct_keras.DCTConv2D(f, 3, padding="same", activation="relu", switch_off=0.5)  # noqa: E731
        p05 = _small_net(dct5)
        return {"Conv2D": _small_net(conv), "DCTConv2D p=0": _small_net(dct0), "DCTConv2D p=0.5": p05,
                "folded p=0.5": dct_keras.fold(p05)}

    def dct_resnet50():
        dct = resnet50_cifar("dct_spatial", 0.5, seed=0)
        return {"Conv2D": resnet50_cifar("plain"), "DCT-Conv 3x3 p=0.5": dct, "folded": dct_keras.fold(dct)}

    def freqreg_resnet18():
        def kept(fraction):
            model = resnet18_cifar("freqreg")
            for weight in dct_keras.spectral_weights(model):
                weight.set_mask(weight.zigzag_mask(kept_count(weight.size, fraction, 1)), kept_fraction=fraction)
            return model

        return {"plain": resnet18_cifar("plain"), "FreqReg 100 %": kept(1.0), "FreqReg 1 %": kept(0.01)}

    def harmonic():
        conv = lambda: keras.layers.Conv2D(64, 3, padding="same", activation="relu")  # noqa: E731
        return {"Conv2D": _harmonic_net(conv),
                "merged (default)": _harmonic_net(lambda: dct_keras.HarmonicConv(64, 3, padding="same", activation="relu")),
                "unmerged": _harmonic_net(lambda: dct_keras.HarmonicConv(64, 3, padding="same", activation="relu", merged=False)),
                "with BN": _harmonic_net(lambda: dct_keras.HarmonicConv(64, 3, padding="same", activation="relu", batch_norm=True))}

    table = {"dct_small": (dct_small, 64, (32, 32, 3)), "freqreg_resnet18": (freqreg_resnet18, 64, (32, 32, 3)),
             "harmonic": (harmonic, 64, (32, 32, 64))}
    if not quick:
        table["dct_resnet50"] = (dct_resnet50, 128, (32, 32, 3))
    return table


def interleaved_ratios(models, batch, shape, rounds, warmup=3):
    """Per-step interleaving; returns per model the median step time and the
    median of its per-round ratio to the first (baseline) model."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + shape).astype("float32")
    y = rng.integers(0, 10, batch)
    for model in models.values():
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
        for _ in range(warmup):
            model.train_on_batch(x, y)
    names = list(models)
    times = {name: [] for name in names}
    for index in range(rounds):
        for name in (names if index % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            models[name].train_on_batch(x, y)
            times[name].append(time.perf_counter() - start)
    base = names[0]
    return {name: {"median_s": statistics.median(times[name]),
                   "ratio": statistics.median(t / b for t, b in zip(times[name], times[base]))} for name in names}


def first_epoch_cost(quick, epochs=3):
    """Epoch times of `fit` on Autoencoder 1 with FreqReg layers; the first
    (tracing, graph building) over the median of the later ones."""
    import keras
    import numpy as np

    from dct_keras.models import autoencoder1

    images = 10_000 if quick else 50_000
    x = np.random.default_rng(0).random((images, 32, 32, 3), dtype=np.float32)
    model = autoencoder1("freqreg")
    model.compile(optimizer="adam", loss="mse")

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    seconds = []
    model.fit(x, x, batch_size=64, epochs=epochs, verbose=0, callbacks=[Timer()])
    return {"images": images, "epoch_s": [round(t, 2) for t in seconds],
            "first_over_later": seconds[0] / statistics.median(seconds[1:])}


def peak_memory_growth(name, label, quick):
    """MiB by which a fresh process's peak RSS grows over 3 training steps of one model."""
    # VmHWM (the peak RSS of this process image): ru_maxrss would start at the
    # forking parent's peak, which hides the growth.
    code = ("import sys; sys.argv = ['run.py']; import run; "
            "import numpy as np, keras; "
            "peak = lambda: int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]); "
            f"build, batch, shape = run.comparisons({quick})[{name!r}]; model = build()[{label!r}]; "
            "model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy'); "
            "x = np.random.rand(batch, *shape).astype('float32'); y = np.zeros(batch, 'int64'); "
            "before = peak(); [model.train_on_batch(x, y) for _ in range(3)]; print((peak() - before) / 1024)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__)))
    return float(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no ResNet50")
    parser.add_argument("--only", nargs="+", help="run only these comparisons")
    parser.add_argument("--rounds", type=int, help="rounds (default: 30, 10 with --quick)")
    parser.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "results.json"))
    parser.add_argument("--memory", action="store_true", help="also measure peak-memory growth per model")
    parser.add_argument("--table", action="store_true", help="print the markdown results table of the JSON file and exit")
    args = parser.parse_args(argv)
    if args.table:
        with open(args.json) as f:
            print(markdown_table(json.load(f)))
        return
    rounds = args.rounds or (10 if args.quick else 30)
    import keras

    table = comparisons(args.quick)
    chosen = args.only or list(table) + ["ae1_first_epoch"]
    unknown = set(chosen) - set(table) - {"ae1_first_epoch"}
    if unknown:
        parser.error(f"--only {' '.join(sorted(unknown))}: the comparisons are {sorted(table)}")
    results = {"comparisons": {}}
    if os.path.exists(args.json):
        with open(args.json) as f:
            results = json.load(f)
    results.update(machine=f"{platform.machine()}, {os.cpu_count()} CPUs", backend=keras.backend.backend(),
                   keras=keras.__version__, method="per-step interleaving, median of paired ratios")
    results.setdefault("comparisons", {})
    today = time.strftime("%Y-%m-%d")
    for name in chosen:
        if name == "ae1_first_epoch":
            measured = first_epoch_cost(args.quick)
            results["ae1_first_epoch"] = {**measured, "measured": today}
            print(f"\nae1_first_epoch ({measured['images']:,} images, batch 64): epochs {measured['epoch_s']} s, "
                  f"first / later {measured['first_over_later']:.3f}x")
            keras.backend.clear_session()
            continue
        build, batch, shape = table[name]
        keras.utils.set_random_seed(0)
        measured = interleaved_ratios(build(), batch, shape, rounds)
        results["comparisons"][name] = {"batch": batch, "input": list(shape), "rounds": rounds, "measured": today,
                                        "models": measured}
        keras.backend.clear_session()
        if args.memory:
            for label, value in measured.items():
                value["peak_growth_mib"] = peak_memory_growth(name, label, args.quick)
        print(f"\n{name} (batch {batch}, {rounds} rounds x 1 step, interleaved)")
        for label, value in measured.items():
            memory = f"   peak +{value['peak_growth_mib']:.0f} MiB" if value.get("peak_growth_mib") is not None else ""
            print(f"  {label:>20}: {value['median_s']:.4f} s/step   ratio {value['ratio']:.3f}x{memory}")
    results.pop("rounds", None)  # per comparison now
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nwrote {args.json}")


TARGETS = {"dct_small": "<= 1.03x, folded 1.00x", "dct_resnet50": "<= 1.03x, folded 1.00x",
           "freqreg_resnet18": "100 % <= 1.05x, 1 % <= 1.02x", "harmonic": "merged <= 1.05x"}


def markdown_table(results):
    """The README's table: one line per comparison, its variants' ratios."""
    lines = ["| comparison | batch | rounds | baseline | variants: s/step (ratio) | peak-memory growth, 3 steps | target | measured |",
             "|---|---|---|---|---|---|---|---|"]
    for name, entry in results["comparisons"].items():
        models = list(entry["models"].items())
        (base, base_value), variants = models[0], models[1:]
        cells = "; ".join(f"{label} {v['median_s']:.3f} s ({v['ratio']:.3f}x)" for label, v in variants)
        memory = ", ".join(f"{label} +{v['peak_growth_mib']:.0f} MiB" for label, v in models if v.get("peak_growth_mib"))
        lines.append(f"| {name} | {entry['batch']} | {entry.get('rounds', results.get('rounds', '?'))} | {base} "
                     f"{base_value['median_s']:.3f} s | {cells} | {memory or '—'} | {TARGETS.get(name, '—')} | "
                     f"{entry.get('measured', '—')} |")
    first = results.get("ae1_first_epoch")
    if first:
        lines.append(f"| ae1_first_epoch | 64 | — | — | FreqReg Autoencoder 1, {first['images']:,} images: epochs "
                     f"{', '.join(f'{t:.0f}' for t in first['epoch_s'])} s; first / later {first['first_over_later']:.3f}x "
                     f"| — | <= 1.2x | {first.get('measured', '—')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
