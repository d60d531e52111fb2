"""Reproduce ctnet_h265.txt: CTNet-18 (DCT ResNet-18 under the H.265 rate proxy) on Imagenette, exported as H.265.

    python reproductions/ctnet_imagenette.py [--quick | --budget] [--data PATH.npz] [--variants NAME ...]
        [--runs N] [--epochs N] [--session-epochs N] [--out DIR] [--tensorboard DIR]

Each variant of the config (CTNet-18 with the rate proxy; the same DCT network
without it) trains ``runs`` times under AdamW (`dct_keras.experiment.ctnet`),
logging test accuracy and H.265 size after every epoch. A finished run is
exported (``<out>/export/<run>-<hash>/``: coefficients.hevc, raw.npz,
manifest.json), decoded with `load_h265` and evaluated; its row goes to
``<out>/results.jsonl`` (runs resume and skip as in the other reproductions).
``<out>/table.md`` sets ours beside the paper's runs; ``<out>/accuracy_vs_size.png``
plots accuracy against export size over the epochs. Default data:
``../shared/data/imagenette_32.npz`` (Imagenette at 32 px; the paper uses 320 px).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import ROOT, cli, config_path, fit_verbosity, load_dataset  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "imagenette_32.npz")


def main(argv=None):
    parser = cli.base_parser(__doc__.splitlines()[0], config_path("ctnet_imagenette"))
    parser.add_argument("--variants", nargs="+", help="subset of the config's variants")
    args = parser.parse_args(argv)
    full, config = cli.load_effective_config(args, ROOT)
    cli.require_known(args.variants, config["variants"], "--variants", "variants")
    if args.data is None:
        if not os.path.exists(DEFAULT_DATA):
            raise cli.UsageError(f"--data: no Imagenette given and the default {DEFAULT_DATA} does not exist; pass an "
                                 ".npz with x_train, y_train, x_test, y_test")
        args.data = DEFAULT_DATA

    cli.import_framework()
    from dct_keras.experiment import ctnet
    from dct_keras.experiment.results import read_rows
    from dct_keras.experiment.runner import Runner, prepare_data

    dataset = load_dataset(config, args)
    data = prepare_data(config, dataset, "resnet18")
    print(f"{config['title']}: {config['epochs']} epochs ({config['tier']} tier), data {dataset.source} "
          f"({len(data.x_train):,} / {len(data.x_test):,} images), results in {args.out}")
    runner = Runner(config, data, args.out, session_epochs=args.session_epochs, verbose=fit_verbosity(),
                    model_fn=ctnet.model_fn, tensorboard_dir=args.tensorboard)
    runner.callbacks_fn = ctnet.callbacks_fn(config, data)
    runner.row_fn = ctnet.row_fn(config, data, args.out, runner.hash)
    runner.run_all(ctnet.plan(config, args.variants))
    print(ctnet.render_table(config, args.out, full["epochs"], {runner.hash}))
    rows = [r for r in read_rows(os.path.join(args.out, "results.jsonl")) if r.get("config_hash") == runner.hash]
    ctnet.render_plot(rows, os.path.join(args.out, "accuracy_vs_size.png"))
    print(f"wrote {args.out}/table.md and accuracy_vs_size.png")


if __name__ == "__main__":
    cli.run_main(main)
