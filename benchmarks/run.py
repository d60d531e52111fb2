"""Train-step overhead of every spectral method against plain Keras (issue 14).

    python benchmarks/run.py [--quick] [--only NAME ...] [--rounds N] [--memory | --memory-only] [--json PATH]
    python benchmarks/run.py --table      # the README's results table, from the JSON file

Method (the reliable one on a shared 2-core machine): each comparison builds
its models, warms each up (traced), then runs rounds in which every model does
ONE `train_on_batch` step, in an order that alternates (A B B A ...); the ratio
of a variant is the median over rounds of its step time divided by the
baseline's step time in the same round. Run it with nothing else on the
machine. With ``--memory``, each model is also built and trained 3 steps in a
fresh process (5 times by default, ``--memory-processes``; the median), and two peaks are reported with their ratios to the baseline's:
the process's peak RSS above its resident size after the imports (what the
machine sees: weights, optimizer state, traced graph, activations, and the
freed memory the C allocator keeps), and, under TensorFlow, the peak of the
bytes held in live tensors by its CPU allocator (what the training step
itself needs, its ops run one at a time so that the peak is reproducible);
the JSON file also keeps the RSS peak once the model is built and after the
first step (tracing). ``--memory-only`` measures just these (memory, unlike time,
can be measured beside another job) and keeps the file's step times.

Comparisons (targets in brackets):

* ``dct_small`` – 5 3x3 conv layers (64-256 filters) on 32x32, batch 64:
  Conv2D vs DCTConv2D p = 0 / p = 0.5 / folded  [<= 1.03x, folded 1.00x]
* ``dct_small_transpose`` – the same net of stride-1 transposed convolutions:
  Conv2DTranspose vs DCTConv2DTranspose p = 0.5 / folded  [<= 1.03x, folded 1.00x]
* ``dct_resnet50`` – ResNet50-CIFAR, batch 128: Conv2D vs DCT-Conv 3x3 vs folded
* ``freqreg_resnet18`` – ResNet18-CIFAR, batch 64: plain vs FreqReg 100 % / 1 %
  kept, each with the channel DCTs where the cost model puts them (the
  default) and all on the kernel (the form before it)  [<= 1.05x / <= 1.02x]
* ``freqreg_autoencoder1`` – Autoencoder 1 with FreqReg layers, batch 64: the
  channel DCTs on the kernel vs where the cost model puts them  [no slower]
* ``harmonic`` – four 3x3/64 layers on 32x32x64, batch 64: Conv2D vs
  HarmonicConv merged (the default) / unmerged, and with BN merged (the
  default) / unmerged  [merged <= 1.05x]
* ``rd_lenet5`` – LeNet-5 (Caffe form, 431,080 parameters) on 28x28x1, batch
  128: plain vs its rate-distortion version (`dct_keras.RDConv2D` / `RDDense`,
  the rate term on, refreshed every `RATE_INTERVAL` steps; a round is that
  many steps of each model, so that it holds one refresh)  [<= 1.15x]
* ``rd_resnet20`` – ResNet-20 on 32x32x3, batch 128: plain vs rate-distortion,
  as for LeNet-5  [<= 1.15x]
* ``ae1_first_epoch`` – Autoencoder 1 with FreqReg layers (its FreqRegDense
  has a 4096-long axis), 3 epochs of `fit` on 50,000 (``--quick``: 10,000)
  random 32x32x3 images, batch 64: the first epoch (tracing included) over
  the median of the later ones  [<= 1.2x]

Writes the table to stdout and updates a JSON file (``benchmarks/results.json``
by default; each comparison measured replaces its entry, with the date) that
the README's results table is made from (``--table``). A new measurement keeps
the ratios of the last one of an earlier day (``before``) and of one of the
same day (``earlier_run``: the table shows how far the two runs agree).
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
    """name -> (builders {label: zero-argument model factory} with the baseline
    first, batch, input shape). Factories, so that a memory probe builds one model."""
    import keras

    import dct_keras
    from dct_keras.models import BUILDERS, PLAIN, autoencoder1, resnet18_cifar, resnet50_cifar
    from dct_keras.spectral.masks import kept_count

    def small(plain, dct, switch_offs):
        """The small net of `plain` layers, of `dct` layers at each switch-off p, and folded at the last p."""
        def net(**options):
            layer = dct if options else plain
            return _small_net(lambda f: layer(f, 3, padding="same", activation="relu", **options))

        builders = {plain.__name__: net}
        for p in switch_offs:
            builders[f"{dct.__name__} p={p:g}"] = lambda p=p: net(switch_off=p)
        builders[f"folded p={switch_offs[-1]:g}"] = lambda: dct_keras.fold(net(switch_off=switch_offs[-1]))
        return builders

    def dct_resnet50():
        return {"Conv2D": lambda: resnet50_cifar("plain"),
                "DCT-Conv 3x3 p=0.5": lambda: resnet50_cifar("dct_spatial", 0.5, seed=0),
                "folded": lambda: dct_keras.fold(resnet50_cifar("dct_spatial", 0.5, seed=0))}

    def freqreg_resnet18():
        def kept(fraction, side="auto"):
            model = channel_side(resnet18_cifar("freqreg"), side)
            for weight in dct_keras.spectral_weights(model):
                weight.set_mask(weight.zigzag_mask(kept_count(weight.size, fraction, 1)), kept_fraction=fraction)
            return model

        return {"plain": lambda: resnet18_cifar("plain"), "FreqReg 100 %": lambda: kept(1.0),
                "FreqReg 100 %, kernel side": lambda: kept(1.0, "kernel"), "FreqReg 1 %": lambda: kept(0.01),
                "FreqReg 1 %, kernel side": lambda: kept(0.01, "kernel")}

    def freqreg_autoencoder1():
        return {"FreqReg, kernel side": lambda: channel_side(autoencoder1("freqreg"), "kernel"),
                "FreqReg (auto)": lambda: channel_side(autoencoder1("freqreg"), "auto")}

    def harmonic():
        def net(**options):
            if options.pop("plain", False):
                return _harmonic_net(lambda: keras.layers.Conv2D(64, 3, padding="same", activation="relu"))
            return _harmonic_net(lambda: dct_keras.HarmonicConv(64, 3, padding="same", activation="relu", **options))

        return {"Conv2D": lambda: net(plain=True), "merged (default)": net,
                "unmerged": lambda: net(merged=False), "with BN (merged, default)": lambda: net(batch_norm=True),
                "with BN, unmerged": lambda: net(batch_norm=True, merged=False)}

    def rate_distortion(name, shape):
        def build(variant):
            model = BUILDERS[name](PLAIN, num_classes=10, input_shape=shape)
            return model if variant == PLAIN else dct_keras.convert(model, to="rd", seed=0, rate_weight=1e-5, log_speed=10.0,
                                                                    rate_interval=RATE_INTERVAL)

        return {"plain": lambda: build(PLAIN), "rate-distortion": lambda: build("rd")}

    table = {"dct_small": (small(keras.layers.Conv2D, dct_keras.DCTConv2D, (0.0, 0.5)), 64, (32, 32, 3)),
             "dct_small_transpose": (small(keras.layers.Conv2DTranspose, dct_keras.DCTConv2DTranspose, (0.5,)),
                                     64, (32, 32, 3)),
             "freqreg_resnet18": (freqreg_resnet18(), 64, (32, 32, 3)),
             "freqreg_autoencoder1": (freqreg_autoencoder1(), 64, (32, 32, 3)),
             "harmonic": (harmonic(), 64, (32, 32, 64)),
             "rd_lenet5": (rate_distortion("lenet5", (28, 28, 1)), 128, (28, 28, 1)),
             "rd_resnet20": (rate_distortion("resnet20", (32, 32, 3)), 128, (32, 32, 3))}
    if not quick:
        table["dct_resnet50"] = (dct_resnet50(), 128, (32, 32, 3))
    return table


def task(model, x, labels):
    """``(targets, loss)`` for a training step: an autoencoder (output shaped
    as its input) reconstructs ``x`` (mse); a classifier learns ``labels``."""
    if tuple(model.output_shape[1:]) == tuple(x.shape[1:]):
        return x, "mse"
    return labels, "sparse_categorical_crossentropy"


def channel_side(model, side):
    """``model`` with every spectral layer's channel DCTs forced to ``side``
    (`channel_transform`: "kernel" is the form before the cost model)."""
    import dct_keras

    for layer in dct_keras.spectral_layers(model):
        if hasattr(layer.coding, "channel_transform"):
            layer.coding.channel_transform = side
    return model


def interleaved_ratios(models, batch, shape, rounds, steps=1, warmup=3):
    """Per-step interleaving (rounds of ``steps`` steps of each model);
    returns per model the median step time (a round's time / ``steps``) and
    the median of its per-round ratio to the first (baseline) model."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + shape).astype("float32")
    labels = rng.integers(0, 10, batch)
    targets = {}
    for name, model in models.items():
        targets[name], loss = task(model, x, labels)
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=loss)
        for _ in range(warmup):
            model.train_on_batch(x, targets[name])
    names = list(models)
    times = {name: [] for name in names}
    for index in range(rounds):
        for name in (names if index % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            for _ in range(steps):
                models[name].train_on_batch(x, targets[name])
            times[name].append((time.perf_counter() - start) / steps)
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


def peak_memory(name, label, quick):
    """Training peak of one model in a fresh process (building, tracing and 3
    steps): ``(rss, tensors, built, first_step)`` in MiB. ``rss``: the
    process's peak RSS above its resident size after the imports (what the
    machine sees, allocator retention included); ``built`` and
    ``first_step``: that peak once the model is built and compiled, and after
    the first step (tracing included). ``tensors``: under TensorFlow, the peak
    of the bytes its CPU allocator held in live tensors (weights, optimizer
    state, activations, temporaries: what the step itself needs, its ops run
    one at a time); None elsewhere."""
    # VmHWM is the peak RSS of this process image; ru_maxrss would start at
    # the forking parent's peak.
    code = ("import sys, json; sys.argv = ['run.py']; import run; import numpy as np, keras; "
            "status = lambda key: int(next(l for l in open('/proc/self/status') if l.startswith(key)).split()[1]); "
            f"builders, batch, shape = run.comparisons({quick})[{name!r}]; "
            "x = np.random.rand(batch, *shape).astype('float32'); "
            f"before = status('VmRSS'); model = builders[{label!r}](); y, loss = run.task(model, x, np.zeros(batch, 'int64')); "
            "model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=loss); "
            "built = (status('VmHWM') - before) / 1024; model.train_on_batch(x, y); "
            "first = (status('VmHWM') - before) / 1024; [model.train_on_batch(x, y) for _ in range(2)]; "
            "tf = sys.modules.get('tensorflow') if keras.backend.backend() == 'tensorflow' else None; "
            "tensors = tf.config.experimental.get_memory_info('CPU:0')['peak'] / 2**20 if tf else None; "
            "print(json.dumps([(status('VmHWM') - before) / 1024, tensors, built, first]))")
    # TensorFlow keeps allocator statistics on the CPU only with its BFC allocator;
    # with one inter-op thread its ops run one at a time, so the peak of live
    # tensors does not depend on how they happened to overlap (it varied by
    # ~10 % between processes otherwise).
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__)),
                            env={**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "true", "TF_NUM_INTEROP_THREADS": "1"})
    return json.loads(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else (None,) * 4


def _history(previous, today):
    """What a new measurement keeps of the entry it replaces: ``before`` (the
    ratios of the last measurement of an earlier day, with its date) and
    ``earlier_run`` (the ratios of a measurement of the same day, for the
    two-run agreement)."""
    if not previous:
        return {}
    ratios = {label: value["ratio"] for label, value in previous["models"].items() if "ratio" in value}
    if previous.get("measured") == today:
        return {"before": previous.get("before"), "earlier_run": ratios}
    return {"before": {"measured": previous.get("measured"), "ratios": ratios}}


def measure_memory(name, labels, quick, models, processes=5):
    """Fills ``models[label]`` with the peaks of `peak_memory` (the median of
    ``processes`` fresh processes), their ratios to the first label's (the
    baseline) and the range of the live-tensor peak over the processes."""
    base = None
    for label in labels:
        # Several processes: one process's RSS peak varies by ~5 %, and its
        # live-tensor peak by ~4 % (which ops TensorFlow's executor runs
        # first changes what is live at the peak, e.g. the optimizer's
        # momentum products, ready before any gradient).
        probes = [peak_memory(name, label, quick) for _ in range(processes)]
        rss, tensors, built, first = (statistics.median(v) if None not in v else None for v in zip(*probes))
        base = base or (rss, tensors)
        models.setdefault(label, {}).update(
            peak_mib=rss, peak_ratio=rss / base[0] if rss and base[0] else None,
            tensor_peak_mib=tensors, tensor_peak_ratio=tensors / base[1] if tensors and base[1] else None,
            tensor_peak_range_mib=[min(p[1] for p in probes), max(p[1] for p in probes)] if tensors else None,
            memory_processes=processes, peak_built_mib=built, peak_first_step_mib=first)


# Every comparison, in the order a full run measures them (`comparisons` builds
# all but the last; ``--quick`` leaves out FULL_ONLY).
NAMES = ("dct_small", "dct_small_transpose", "freqreg_resnet18", "freqreg_autoencoder1", "harmonic", "rd_lenet5",
         "rd_resnet20", "dct_resnet50", "ae1_first_epoch")
FULL_ONLY = ("dct_resnet50",)
# The rate-distortion layers' `rate_interval` here, and the steps of each model in a round of their comparisons:
# the rate's cost is paid once per interval, which a median of single steps would leave out.
RATE_INTERVAL = 8
STEPS_PER_ROUND = {"rd_lenet5": RATE_INTERVAL, "rd_resnet20": RATE_INTERVAL}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no ResNet50")
    parser.add_argument("--only", nargs="+", help="run only these comparisons")
    parser.add_argument("--rounds", type=int, help="rounds (default: 30, 10 with --quick)")
    parser.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "results.json"))
    parser.add_argument("--memory", action="store_true", help="also measure each model's training peak memory in a fresh process")
    parser.add_argument("--memory-only", action="store_true",
                        help="measure only the peak memory (needs no quiet machine), keeping the JSON file's step times")
    parser.add_argument("--memory-processes", type=int, default=5, metavar="N",
                        help="fresh processes per model for the memory peaks (default 5; the median is reported)")
    parser.add_argument("--table", action="store_true", help="print the markdown results table of the JSON file and exit")
    args = parser.parse_args(argv)
    if args.table:
        with open(args.json) as f:
            print(markdown_table(json.load(f)))
        return
    if args.rounds is not None and args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: needs at least 1 round")
    if args.memory_processes < 1:
        parser.error(f"--memory-processes {args.memory_processes}: needs at least 1 process")
    rounds = args.rounds or (10 if args.quick else 30)
    names = [n for n in NAMES if not (args.quick and n in FULL_ONLY)]
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        parser.error(f"--only {' '.join(unknown)}: the comparisons{' with --quick' if args.quick else ''} are {', '.join(names)}")
    chosen = args.only or names
    import keras

    table = comparisons(args.quick)
    results = {"comparisons": {}}
    if os.path.exists(args.json):
        with open(args.json) as f:
            results = json.load(f)
    results.update(machine=f"{platform.machine()}, {os.cpu_count()} CPUs", backend=keras.backend.backend(),
                   keras=keras.__version__, method="per-step interleaving, median of paired ratios")
    results.setdefault("comparisons", {})
    today = time.strftime("%Y-%m-%d")
    for name in chosen:
        if args.memory_only:
            if name in table:
                entry = results["comparisons"].setdefault(name, {"batch": table[name][1], "models": {}})
                measure_memory(name, table[name][0], args.quick, entry["models"], args.memory_processes)
                entry["memory_measured"] = today
                print(f"{name}: " + "; ".join(
                    f"{label} peak RSS {v['peak_mib']:.0f} MiB (built {v['peak_built_mib']:.0f}, after the first step "
                    f"{v['peak_first_step_mib']:.0f}), tensors {v['tensor_peak_mib']:.0f} MiB"
                    for label, v in entry["models"].items() if v.get("tensor_peak_mib")))
            continue
        if name == "ae1_first_epoch":
            measured = first_epoch_cost(args.quick)
            results["ae1_first_epoch"] = {**measured, "measured": today}
            print(f"\nae1_first_epoch ({measured['images']:,} images, batch 64): epochs {measured['epoch_s']} s, "
                  f"first / later {measured['first_over_later']:.3f}x")
            keras.backend.clear_session()
            continue
        builders, batch, shape = table[name]
        keras.utils.set_random_seed(0)
        steps = STEPS_PER_ROUND.get(name, 1)
        measured = interleaved_ratios({label: make() for label, make in builders.items()}, batch, shape, rounds, steps)
        previous = results["comparisons"].get(name, {})
        results["comparisons"][name] = entry = {"batch": batch, "input": list(shape), "rounds": rounds,
                                                "steps_per_round": steps, "measured": today, "models": measured,
                                                **_history(previous, today)}
        keras.backend.clear_session()
        if args.memory:
            measure_memory(name, builders, args.quick, measured, args.memory_processes)
            entry["memory_measured"] = today
        elif "memory_measured" in previous:  # keep the earlier memory figures, with their date
            entry["memory_measured"] = previous["memory_measured"]
            for label, value in measured.items():
                value.update({k: v for k, v in previous["models"].get(label, {}).items() if "peak" in k})
        print(f"\n{name} (batch {batch}, {rounds} rounds x {steps} step{'s' * (steps > 1)}, interleaved)")
        for label, value in measured.items():
            memory = (f"   peak RSS {value['peak_mib']:.0f} MiB ({value['peak_ratio']:.3f}x), tensors "
                      f"{value['tensor_peak_mib']:.0f} MiB ({value['tensor_peak_ratio']:.3f}x)") if value.get("tensor_peak_ratio") else ""
            print(f"  {label:>20}: {value['median_s']:.4f} s/step   ratio {value['ratio']:.3f}x{memory}")
    results.pop("rounds", None)  # per comparison now
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nwrote {args.json}")


TARGETS = {"dct_small": "<= 1.03x, folded 1.00x; memory <= 1.05x",
           "dct_small_transpose": "<= 1.03x, folded 1.00x; memory <= 1.05x",
           "dct_resnet50": "<= 1.03x, folded 1.00x; memory <= 1.05x",
           "freqreg_resnet18": "100 % <= 1.05x, 1 % <= 1.02x; memory <= 1.10x",
           "rd_lenet5": "<= 1.15x", "rd_resnet20": "<= 1.15x",
           "freqreg_autoencoder1": "auto no slower than the kernel side", "harmonic": "merged <= 1.05x"}


def _spread(value):
    """The range of a live-tensor peak over its processes, when recorded."""
    low_high = value.get("tensor_peak_range_mib")
    return f", {low_high[0]:.0f}-{low_high[1]:.0f} in {value['memory_processes']}" if low_high else ""


def markdown_table(results):
    """The README's table: one line per comparison, its variants' ratios."""
    lines = ["| comparison | batch | rounds | baseline | variants: s/step (ratio) | before (ratios) | two runs agree "
             "| training peak RSS (ratio) | peak of live tensors (ratio) | target | measured |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, entry in results["comparisons"].items():
        models = list(entry["models"].items())
        (base, base_value), variants = models[0], models[1:]
        cells = "; ".join(f"{label} {v['median_s']:.3f} s ({v['ratio']:.3f}x)" for label, v in variants)
        memory = ", ".join(f"{label} {v['peak_mib']:.0f} MiB ({v['peak_ratio']:.2f}x)" for label, v in models if v.get("peak_ratio"))
        tensors = ", ".join(f"{label} {v['tensor_peak_mib']:.0f} MiB ({v['tensor_peak_ratio']:.3f}x{_spread(v)})"
                            for label, v in models if v.get("tensor_peak_ratio"))
        memory_date = entry.get("memory_measured")
        measured_memory = f" (memory {memory_date})" if memory_date and memory_date != entry.get("measured") else ""
        before = entry.get("before")
        before_cell = (f"{before['measured']}: " + "; ".join(f"{label} {ratio:.3f}x" for label, ratio in before["ratios"].items()
                                                           if label != base)) if before else "—"
        earlier = entry.get("earlier_run")
        agreement = "—"
        if earlier:
            gaps = [abs(v["ratio"] - earlier[label]) / earlier[label] for label, v in variants if label in earlier]
            agreement = f"within {100 * max(gaps):.1f} %" if gaps else "—"
        steps = entry.get("steps_per_round", 1)
        rounds = f"{entry.get('rounds', results.get('rounds', '?'))}{f' x {steps} steps' if steps > 1 else ''}"
        lines.append(f"| {name} | {entry['batch']} | {rounds} | {base} "
                     f"{base_value['median_s']:.3f} s | {cells} | {before_cell} | {agreement} | {memory or '—'} | {tensors or '—'} | "
                     f"{TARGETS.get(name, '—')} | "
                     f"{entry.get('measured', '—')}{measured_memory} |")
    first = results.get("ae1_first_epoch")
    if first:
        lines.append(f"| ae1_first_epoch | 64 | — | — | FreqReg Autoencoder 1, {first['images']:,} images: epochs "
                     f"{', '.join(f'{t:.0f}' for t in first['epoch_s'])} s; first / later {first['first_over_later']:.3f}x "
                     f"| — | — | — | — | <= 1.2x | {first.get('measured', '—')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
