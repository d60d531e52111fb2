"""Reproduce harmonic_networks.txt Table 1: WRN-28-10 and its harmonic versions on CIFAR.

    python reproductions/harmonic_wrn_cifar.py [--quick] [--data PATH] [--variants WRN Harm-WRN ...]
        [--runs N] [--epochs N] [--session-epochs N] [--out DIR]

Each variant of the config trains ``runs`` times (distinct seeds) under the
WRN regime; each finished run appends a JSON line to ``<out>/results.jsonl``
(runs resume and skip as in the other reproductions), and ``<out>/table.md``
gives the median test error beside the paper's (CIFAR-10 or CIFAR-100 column,
following the number of classes of the data).
"""

import collections
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.dirname(os.path.abspath(__file__))]

import keras  # noqa: E402
import numpy as np  # noqa: E402

from common import base_parser, fit_verbosity, load_inputs  # noqa: E402
from dct_keras.experiment.runner import RESULTS_FILE, Runner, RunSpec, make_optimizer, prepare_data  # noqa: E402
from dct_keras.models.harmonic_nets import wide_resnet  # noqa: E402


def plan(config, variants=None):
    """One run per variant name and seed (the name, slugged, keys the run)."""
    names = variants or list(config["variants"])
    return [RunSpec(name.replace(" ", "_"), None, seed, name) for name in names for seed in range(config["runs"])]


def model_fn(config, spec, data):
    setting = config["variants"][spec.block]
    keras.utils.set_random_seed(spec.seed)
    model = wide_resnet(
        setting["variant"], depth=config["depth"], width=config["width"], num_classes=data.num_classes,
        input_shape=data.x_train.shape[1:], dropout=setting["dropout"], levels=setting.get("levels"), l2=config["l2"],
    )
    model.compile(optimizer=make_optimizer(config), loss=config["loss"], metrics=["accuracy"])
    return model


def render_table(config, out_dir, full_epochs, num_classes):
    column = "cifar100" if num_classes == 100 else "cifar10"
    with open(os.path.join(out_dir, RESULTS_FILE)) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    groups = collections.defaultdict(list)
    for row in rows:
        groups[row["block"]].append(row)
    lines = [f"# {config['title']} — WRN-{config['depth']}-{config['width']}, {column}", "",
             "| variant | ours: median error % | n | parameters | epochs | wall time | paper: median error % (WRN-28-10) |",
             "|---|---|---|---|---|---|---|"]
    for name, setting in config["variants"].items():
        runs = groups.get(name, [])
        if not runs:
            continue
        error = 100 * (1 - np.median([r["metric"] for r in runs]))
        epochs = ",".join(sorted({str(r["epochs_done"]) for r in runs}))
        short = " ⚠" if any(r["epochs_done"] < full_epochs for r in runs) else ""
        lines.append(f"| {name} | {error:.2f} | {len(runs)} | {runs[0]['params_trainable']:,} | {epochs}{short} "
                     f"| {sum(r['wall_time_s'] for r in runs):.0f} s | {setting['paper'][column]:.2f} |")
    lines += ["", "⚠: fewer epochs than the full protocol (`--quick`); not comparable with the paper."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(text)
    return text


def main(argv=None):
    parser = base_parser(__doc__.splitlines()[0], "harmonic_wrn_cifar")
    parser.add_argument("--variants", nargs="+", help="subset of the config's variants")
    args = parser.parse_args(argv)
    full, config, dataset = load_inputs(args, "harmonic_wrn_cifar")
    unknown = set(args.variants or []) - set(config["variants"])
    if unknown:
        sys.exit(f"error: unknown variants {sorted(unknown)}; the config has {sorted(config['variants'])}.")
    data = prepare_data(config, dataset)
    print(f"{config['title']}: WRN-{config['depth']}-{config['width']}, {config['epochs']} epochs, data {dataset.source}, results in {args.out}")
    runner = Runner(config, data, args.out, session_epochs=args.session_epochs, verbose=fit_verbosity(), model_fn=model_fn)
    runner.run_all(plan(config, args.variants))
    print(render_table(config, args.out, full["epochs"], data.num_classes))


if __name__ == "__main__":
    main()
