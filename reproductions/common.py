"""The command line shared by the DCT-Conv reproductions (Problems 1-4).

    python reproductions/problem1_resnet50.py [--quick | --budget] [--data PATH] [--runs N]
        [--p 0 0.5 plain ...] [--out DIR] [--epochs N] [--strategy mirrored]
        [--config FILE] [--variant all|spatial|both] [--session-epochs N] [--augment]
        [--tensorboard DIR]

Results go to ``<out>/results.jsonl`` (one line per finished run); rerunning
the same command resumes the unfinished run and skips finished ones. Render
them with ``python reproductions/report.py <out>``.

Every script checks its arguments (and reads its config) before TensorFlow is
imported, so ``--help`` and a bad argument answer at once.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ["DCT_KERAS_DEFER_IMPORTS"] = "1"  # the package loads Keras on first use, after argument checks
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from dct_keras.experiment import cli  # noqa: E402


def config_path(name):
    return os.path.join(ROOT, "configs", f"{name}.json")


def load_dataset(config, args):
    """The run's images (the tier's subset applied), or a `RunError`."""
    from dct_keras.data import load_image_dataset

    dataset = load_image_dataset(config["dataset"], path=args.data)
    tier = cli.tier_of(args)
    if tier:
        dataset = dataset.subset(config[tier].get("train_examples"), config[tier].get("test_examples"))
    return dataset


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
    parser = cli.base_parser(f"Reproduce dct_conv.txt Table V ({config_name}).", config_path(config_name))
    parser.add_argument("--p", nargs="+", help="only these settings: switch-off probabilities of the grid and/or 'plain' (the CNN)")
    parser.add_argument("--strategy", choices=["none", "mirrored"], default="none", help="tf.distribute strategy")
    parser.add_argument("--augment", action="store_true", help="random crop + flip (the paper uses none)")
    if variants:
        parser.add_argument("--variant", choices=variants + ["both"], default=variants[0], help="Table V block(s) to run")
    return parser.parse_args(argv)


def main(config_name, argv=None, variants=None):
    cli.run_main(lambda argv: _main(config_name, argv, variants), argv)


def _main(config_name, argv, variants):
    args = parse_args(config_name, argv, variants)
    _, config = cli.load_effective_config(args, ROOT)
    if args.augment:
        config["augment"] = True
    blocks = list(config["blocks"]) if not variants or args.variant == "both" else [args.variant]
    grid = sorted({p for name in blocks for p in config["blocks"][name]["p_grid"]})
    from dct_keras.experiment.plans import plan_runs

    plan = cli.require_nonempty(plan_runs(config, blocks, cli.select_p(args.p, grid)), f"--p {args.p}")

    cli.import_framework()
    from dct_keras.experiment.runner import Runner, prepare_data

    dataset = load_dataset(config, args)
    data = prepare_data(config, dataset)
    strategy = make_strategy(args.strategy)
    print(f"{config['title']}: {len(plan)} runs, {config['epochs']} epochs each ({config['tier']} tier), data {dataset.source} "
          f"({len(dataset.x_train)} train / {len(dataset.x_test)} test, {dataset.num_classes} classes), results in {args.out}")
    runner = Runner(config, data, args.out, strategy=strategy, session_epochs=args.session_epochs,
                    verbose=fit_verbosity(), tensorboard_dir=args.tensorboard)
    runner.run_all(plan)
    print(f"done. Report: python reproductions/report.py {args.out}")
