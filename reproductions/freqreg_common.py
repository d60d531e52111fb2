"""The command line shared by the Frequency Regularization reproductions.

    python reproductions/freqreg_lenet_mnist.py [--quick] [--data PATH] [--models lenet5 ...]
        [--settings ref v1 v2] [--runs N] [--out DIR] [--epochs N] [--session-epochs N]

For every model: the reference network (plain layers), then each setting of
the config: the FreqReg network trained with dynamic tail-dropout
(`TailDropout`, beta_n = beta_{n-1} - gamma (beta_{n-1} - epsilon)) towards the
setting's kept fraction epsilon. Each finished run appends a JSON line to
``<out>/<model>/results.jsonl`` (with its kept kernel parameters, compress rate
and the accuracy after a float16 export -> load round trip); runs resume and
skip as in the DCT-Conv reproductions. At the end ``<out>/table.md`` is
written beside the paper's numbers.
"""

import collections
import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import dct_keras  # noqa: E402
from dct_keras.callbacks import TailDropout  # noqa: E402
from common import base_parser, fit_verbosity, load_inputs  # noqa: E402
from dct_keras.experiment.runner import RESULTS_FILE, Runner, RunSpec, make_optimizer, prepare_data  # noqa: E402
from dct_keras.models import BUILDERS  # noqa: E402


def plan(config, model_name, settings=None):
    """The reference run, then one FreqReg run per setting (p = 1 - epsilon)."""
    seeds = range(config["runs"])
    wanted = settings or ["ref"] + list(config["models"][model_name]["settings"])
    runs = [RunSpec("cnn", None, s, "ref") for s in seeds] if "ref" in wanted else []
    for name, setting in config["models"][model_name]["settings"].items():
        if name in wanted:
            runs += [RunSpec("freqreg", round(1.0 - setting["epsilon"], 9), s, name) for s in seeds]
    return runs


def model_fn(model_name):
    def build(config, spec, data):
        keras.utils.set_random_seed(spec.seed)
        kwargs = {"num_classes": data.num_classes, "input_shape": data.x_train.shape[1:], "seed": spec.seed}
        if model_name == "vgg16":
            kwargs["l2"] = config["l2"]
        model = BUILDERS[model_name](spec.variant, **kwargs)
        model.compile(optimizer=make_optimizer(config), loss=config["loss"], metrics=["accuracy"])
        return model

    return build


def callbacks_fn(config):
    tail = config["tail_dropout"]

    def callbacks(spec):
        if spec.variant != "freqreg":
            return []
        return [TailDropout(tail["gamma"], 1.0 - spec.p, min_kept=tail["min_kept"], policy=tail["policy"], seed=spec.seed)]

    return callbacks


def row_fn(data, batch_size):
    """Compression numbers and the accuracy after a float16 export round trip."""

    def extra(model):
        rows = dct_keras.compression_report(model)
        fields = {"kernel_parameters": rows[-1].total if len(rows) > 1 else None,
                  "kept_kernel_parameters": rows[-1].nonzero if len(rows) > 1 else None}
        if len(rows) > 1:
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "model.npz")
                dct_keras.save_compressed(model, path, dtype="float16")
                fields["export_bytes_float16"] = os.path.getsize(path)
                clone = keras.models.clone_model(model)
                clone.compile(loss=model.loss, metrics=["accuracy"])
                dct_keras.load_compressed(clone, path)
                scores = clone.evaluate(data.x_test, data.y_test, batch_size=batch_size, verbose=0, return_dict=True)
                fields["accuracy_float16"] = float(scores["accuracy"])
        return fields

    return extra


def render_table(config, out_dir, model_names, full_epochs):
    lines = [f"# {config['title']}", "",
             "| model | setting | ours: accuracy | float16 accuracy | kept kernel params | compress rate | epochs | wall time | paper: accuracy | paper: params |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for model_name in model_names:
        path = os.path.join(out_dir, model_name, RESULTS_FILE)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        groups = collections.defaultdict(list)
        for row in rows:
            groups[row["block"]].append(row)
        reference = config["models"][model_name]["reference"]
        for setting in ["ref"] + list(config["models"][model_name]["settings"]):
            runs = groups.get(setting, [])
            if not runs:
                continue
            paper = reference if setting == "ref" else config["models"][model_name]["settings"][setting]["paper"]
            accuracy = np.mean([r["metric"] for r in runs])
            if setting == "ref":
                kept, rate, half = runs[0]["params_trainable"], "100% (1x)", "—"
            else:
                kept = int(np.mean([r["kept_kernel_parameters"] for r in runs]))
                total = runs[0]["kernel_parameters"]
                rate = f"{100 * kept / total:.3g}% ({total / max(kept, 1):.0f}x)"
                half = f"{np.mean([r['accuracy_float16'] for r in runs]):.4f}"
            short = any(r["epochs_done"] < full_epochs for r in runs)
            epochs = ",".join(sorted({str(r["epochs_done"]) for r in runs})) + (" ⚠" if short else "")
            wall = sum(r["wall_time_s"] for r in runs)
            lines.append(
                f"| {model_name} | {setting} | {accuracy:.4f} (n={len(runs)}) | {half} | {kept:,} | {rate} | {epochs} | {wall:.0f} s "
                f"| {paper['accuracy']:.4f} | {paper['parameters']:,} |"
            )
    lines += ["", "⚠: fewer epochs than the full protocol (`--quick`), so the schedule did not reach the paper's budget; "
              "kept kernel params count non-zero kernel coefficients (biases excluded, as in the paper)."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(text)
    return text


def main(config_name, argv=None):
    parser = base_parser(__doc__.splitlines()[0], config_name)
    parser.add_argument("--models", nargs="+", help="subset of the config's models")
    parser.add_argument("--settings", nargs="+", help="subset of settings: ref v1 v2 ...")
    parser.add_argument("--gamma", type=float, help="override the tail-dropout speed gamma")
    args = parser.parse_args(argv)
    full, config, dataset = load_inputs(args, config_name)
    model_names = args.models or list(config["models"])
    unknown = set(model_names) - set(config["models"])
    if unknown:
        sys.exit(f"error: unknown models {sorted(unknown)}; the config has {sorted(config['models'])}.")
    if args.gamma is not None:
        config["tail_dropout"]["gamma"] = args.gamma
    data = prepare_data(config, dataset)
    print(f"{config['title']}: models {model_names}, {config['epochs']} epochs, gamma "
          f"{config['tail_dropout']['gamma']}, data {dataset.source}, results in {args.out}")
    for model_name in model_names:
        runner = Runner(
            config, data, os.path.join(args.out, model_name), session_epochs=args.session_epochs, verbose=fit_verbosity(),
            model_fn=model_fn(model_name), callbacks_fn=callbacks_fn(config), row_fn=row_fn(data, config["batch_size"]),
        )
        runner.run_all(plan(config, model_name, args.settings))
    print(render_table(config, args.out, model_names, full["epochs"]))
