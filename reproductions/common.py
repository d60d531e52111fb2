"""The command line shared by the DCT-Conv reproductions (Problems 1-4).

    python reproductions/problem1_resnet50.py [--quick] [--data PATH] [--runs N]
        [--p 0 0.5 ...] [--out DIR] [--epochs N] [--strategy mirrored]
        [--config FILE] [--variant all|spatial] [--session-epochs N] [--augment]

Results go to ``<out>/results.jsonl`` (one line per finished run); rerunning
the same command resumes the unfinished run and skips finished ones. Render
them with ``python reproductions/report.py <out>``.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from dct_keras.data import DatasetUnavailableError, load_image_dataset  # noqa: E402
from dct_keras.experiment import ConfigError, apply_overrides, load_config  # noqa: E402
from dct_keras.experiment.runner import Runner, plan_runs, prepare_data  # noqa: E402


def base_parser(description, config_name):
    """The options every reproduction shares (``config_name`` None: the
    caller picks the default config)."""
    parser = argparse.ArgumentParser(description=description)
    default = None if config_name is None else os.path.join(ROOT, "configs", f"{config_name}.json")
    parser.add_argument("--config", default=default, help="config file (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="the config's small CPU budget (data subset, few epochs)")
    parser.add_argument("--data", help="local data: an official CIFAR archive or its folder, or an .npz (never touches the network)")
    parser.add_argument("--runs", type=int, help="runs per setting, distinct seeds")
    parser.add_argument("--out", default=None, help="results folder (default: results/<config>[-quick])")
    parser.add_argument("--epochs", type=int, help="override the epoch budget")
    parser.add_argument("--session-epochs", type=int, help="stop after this many epochs in this invocation (resume later)")
    return parser


def load_inputs(args, config_name):
    """The config as written, the effective config and the dataset of a run,
    or an exit with a clear message; fills in the default ``args.out``."""
    try:
        full = load_config(args.config)
        config = apply_overrides(full, quick=args.quick, epochs=args.epochs, runs=args.runs)
        dataset = load_image_dataset(config["dataset"], path=args.data)
    except (ConfigError, DatasetUnavailableError) as error:
        sys.exit(f"error: {error}")
    if args.quick:
        dataset = dataset.subset(config["quick"]["train_examples"], config["quick"]["test_examples"])
    if args.out is None:
        args.out = os.path.join(ROOT, "results", config_name + ("-quick" if args.quick else ""))
    return full, config, dataset


def make_strategy(name):
    """The `tf.distribute` strategy named on the command line (None for "none")."""
    if name == "none":
        return None
    import tensorflow as tf

    return tf.distribute.MirroredStrategy() if name == "mirrored" else tf.distribute.MultiWorkerMirroredStrategy()


def fit_verbosity():
    """Progress bars on a terminal, one line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2


def parse_args(config_name, argv=None, variants=None):
    parser = base_parser(f"Reproduce dct_conv.txt Table V ({config_name}).", config_name)
    parser.add_argument("--p", nargs="+", help="only these switch-off probabilities ('cnn' for the baseline)")
    parser.add_argument("--strategy", choices=["none", "mirrored"], default="none", help="tf.distribute strategy")
    parser.add_argument("--augment", action="store_true", help="random crop + flip (the paper uses none)")
    if variants:
        parser.add_argument("--variant", choices=variants + ["both"], default=variants[0], help="Table V block(s) to run")
    return parser.parse_args(argv)


def main(config_name, argv=None, variants=None):
    args = parse_args(config_name, argv, variants)
    _, config, dataset = load_inputs(args, config_name)
    if args.augment:
        config["augment"] = True
    blocks = list(config["blocks"]) if not variants or args.variant == "both" else [args.variant]
    plan = plan_runs(config, blocks, args.p)
    strategy = make_strategy(args.strategy)
    print(f"{config['title']}: {len(plan)} runs, {config['epochs']} epochs each, data {dataset.source} "
          f"({len(dataset.x_train)} train / {len(dataset.x_test)} test, {dataset.num_classes} classes), results in {args.out}")
    runner = Runner(config, prepare_data(config, dataset), args.out, strategy=strategy,
                    session_epochs=args.session_epochs, verbose=fit_verbosity())
    runner.run_all(plan)
    print(f"done. Report: python reproductions/report.py {args.out}")
