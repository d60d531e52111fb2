"""The command line shared by the Frequency Regularization reproductions.

    python reproductions/freqreg_lenet_mnist.py [--quick | --budget] [--data PATH] [--models lenet5 ...]
        [--settings ref v1 v2] [--runs N] [--out DIR] [--epochs N] [--session-epochs N] [--gamma G]
        [--tensorboard DIR]

For every model: the reference network, then each setting of the config
(`dct_keras.experiment.freqreg`). Runs resume and skip as in the DCT-Conv
reproductions; at the end ``<out>/table.md`` is written beside the paper's
numbers.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import ROOT, cli, config_path, fit_verbosity, load_dataset  # noqa: E402


def main(config_name, argv=None):
    cli.run_main(lambda argv: _main(config_name, argv), argv)


def _main(config_name, argv):
    parser = cli.base_parser(__doc__.splitlines()[0], config_path(config_name))
    parser.add_argument("--models", nargs="+", help="subset of the config's models")
    parser.add_argument("--settings", nargs="+", help="subset of settings: ref v1 v2 ...")
    parser.add_argument("--gamma", type=cli.probability, help="override the tail-dropout speed gamma, in (0, 1]")
    args = parser.parse_args(argv)
    full, config = cli.load_effective_config(args, ROOT)
    model_names = cli.require_known(args.models, config["models"], "--models", "models") or list(config["models"])
    if args.settings:
        known = {"ref"} | {s for m in model_names for s in config["models"][m]["settings"]}
        bad = sorted(set(args.settings) - known)
        if bad:
            raise cli.UsageError(f"--settings {' '.join(bad)}: not in the config; the settings are {sorted(known)}")
    if args.gamma is not None:
        if args.gamma == 0:
            raise cli.UsageError("--gamma 0: the tail-dropout speed must be in (0, 1]")
        config["tail_dropout"]["gamma"] = args.gamma

    cli.import_framework()
    from dct_keras.experiment import freqreg
    from dct_keras.experiment.runner import Runner, prepare_data

    dataset = load_dataset(config, args)
    print(f"{config['title']}: models {model_names}, {config['epochs']} epochs ({config['tier']} tier), gamma "
          f"{config['tail_dropout']['gamma']}, data {dataset.source}, results in {args.out}")
    hashes = set()
    for model_name in model_names:
        data = prepare_data(config, dataset, model_name)
        runner = Runner(
            config, data, os.path.join(args.out, model_name), session_epochs=args.session_epochs, verbose=fit_verbosity(),
            model_fn=freqreg.model_fn(model_name), callbacks_fn=freqreg.callbacks_fn(config),
            row_fn=freqreg.row_fn(data, config["batch_size"]), tensorboard_dir=args.tensorboard,
        )
        runner.run_all(freqreg.plan(config, model_name, args.settings))
        hashes.add(runner.hash)
    print(freqreg.render_table(config, args.out, model_names, full["epochs"], hashes))
