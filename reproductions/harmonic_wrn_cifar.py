"""Reproduce harmonic_networks.txt Table 1: WRN-28-10 and its harmonic versions on CIFAR.

    python reproductions/harmonic_wrn_cifar.py [--quick | --budget] [--data PATH] [--variants WRN Harm-WRN ...]
        [--runs N] [--epochs N] [--session-epochs N] [--out DIR] [--tensorboard DIR]

Each variant of the config trains ``runs`` times (distinct seeds) under the
WRN regime (`dct_keras.experiment.harmonic`); each finished run appends a row
to ``<out>/results.jsonl`` (runs resume and skip as in the other
reproductions), and ``<out>/table.md`` gives the median test error beside the
paper's (CIFAR-10 or CIFAR-100 column, following the number of classes),
and ``<out>/curves.png`` each run's training curve and test accuracy.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import ROOT, cli, config_path, fit_verbosity, load_dataset  # noqa: E402


def main(argv=None):
    parser = cli.base_parser(__doc__.splitlines()[0], config_path("harmonic_wrn_cifar"))
    parser.add_argument("--variants", nargs="+", help="subset of the config's variants")
    args = parser.parse_args(argv)
    full, config = cli.load_effective_config(args, ROOT)
    cli.require_known(args.variants, config["variants"], "--variants", "variants")

    cli.import_framework()
    from dct_keras.experiment import harmonic
    from dct_keras.experiment.runner import Runner, prepare_data

    dataset = load_dataset(config, args)
    data = prepare_data(config, dataset, "wide_resnet")
    print(f"{config['title']}: WRN-{config['depth']}-{config['width']}, {config['epochs']} epochs ({config['tier']} tier), "
          f"data {dataset.source}, results in {args.out}")
    runner = Runner(config, data, args.out, session_epochs=args.session_epochs, verbose=fit_verbosity(),
                    model_fn=harmonic.model_fn, tensorboard_dir=args.tensorboard)
    runner.run_all(harmonic.plan(config, args.variants))
    print(harmonic.render_table(config, args.out, full["epochs"], data.num_classes, {runner.hash}))
    print(f"wrote {os.path.join(args.out, 'table.md')} and {harmonic.render_plot(config, args.out, {runner.hash})}")


if __name__ == "__main__":
    cli.run_main(main)
