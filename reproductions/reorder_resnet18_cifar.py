"""Reorder-DCT compression (reorder_dct_compression.txt §4) at CPU scale: ResNet-18 on CIFAR-10.

    python reproductions/reorder_resnet18_cifar.py [--data PATH.npz] [--train-epochs N] [--groups 4 8]
        [--rates 2 4 8 16 32] [--r0 0.125 0.25 0.5 1] [--methods reorder no-reorder l1] [--no-finetune]
        [--finetune-images N]
        [--quick] [--out DIR] [--tensorboard DIR]

The paper compresses an ImageNet-trained ResNet-50; no pretrained weights can
be downloaded here, so this trains its own model first and caches it:
ResNet-18-CIFAR (the FreqReg reproduction's reference network and regime:
Adam 1e-3, batch 128, no augmentation) on the CIFAR-10 images of ``--data``,
resumable epoch by epoch. Then every setting of the grid (uniform g x r,
progressive-r r0 at the first g; reordered, without reordering, and the
l1-magnitude baseline) is compressed, evaluated, fine-tuned for one epoch (no
augmentation, lr 0.001 x 64 / 256, §4.2; ``--finetune-images N`` makes that
epoch a seeded N-image sample of the training set, to fit a CPU budget) and
evaluated again; one row per
setting in ``<out>/results.jsonl`` (rerunning skips finished settings), the
table in ``<out>/table.md`` and the plots ``accuracy_vs_params.png`` and
``nsse_vs_rate.png``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import ROOT, cli, config_path, fit_verbosity  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "cifar10_subset.npz")


def main(argv=None):
    parser = cli.Parser(description=__doc__.splitlines()[0], formatter_class=cli.argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=cli.existing_path, default=DEFAULT_DATA, help="CIFAR-10 .npz (default: %(default)s)")
    parser.add_argument("--train-epochs", type=cli.positive_int, default=8, help="epochs of the model to compress (default: %(default)s)")
    parser.add_argument("--groups", type=cli.positive_int, nargs="+", default=[4, 8], help="g of the uniform grid (default: 4 8)")
    parser.add_argument("--rates", type=cli.positive_float, nargs="+", default=[2, 4, 8, 16, 32], help="r of the uniform grid")
    parser.add_argument("--r0", type=cli.positive_float, nargs="+", default=[0.125, 0.25, 0.5, 1], help="progressive-r r0 values")
    parser.add_argument("--methods", nargs="+", choices=["reorder", "no-reorder", "l1"], default=["reorder", "no-reorder", "l1"])
    parser.add_argument("--no-finetune", action="store_true", help="skip the one-epoch fine-tuning")
    parser.add_argument("--finetune-images", type=cli.positive_int, metavar="N",
                        help="fine-tune on a seeded N-image sample of the training set (default: all of it)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,024 / 512 images, 1 training epoch, g=4, r in {4, 16}")
    parser.add_argument("--out", help="results folder (default: results/reorder_resnet18_cifar[-quick])")
    parser.add_argument("--tensorboard", metavar="DIR", help="TensorBoard event files of the training run under DIR")
    args = parser.parse_args(argv)
    if any(rate < 1 for rate in args.rates):
        raise cli.UsageError(f"--rates {' '.join(f'{r:g}' for r in args.rates)}: a compression rate must be >= 1")
    if args.quick:
        args.train_epochs, args.groups, args.rates, args.r0 = 1, [4], [4, 16], [0.25]
    args.out = args.out or os.path.join(ROOT, "results", "reorder_resnet18_cifar" + ("-quick" if args.quick else ""))

    cli.import_framework()
    import keras

    from dct_keras.data import load_image_dataset
    from dct_keras.experiment import apply_overrides, freqreg, load_config, reorder
    from dct_keras.experiment.plans import PLAIN, RunSpec
    from dct_keras.experiment.results import read_rows
    from dct_keras.experiment.runner import Runner, prepare_data

    dataset = load_image_dataset(path=args.data)
    if args.quick:
        dataset = dataset.subset(1024, 512)
    config = apply_overrides(load_config(config_path("freqreg_cifar10")), epochs=args.train_epochs, runs=1)
    data = prepare_data(config, dataset, "resnet18")
    trainer = Runner(config, data, os.path.join(args.out, "trained"), verbose=fit_verbosity(),
                     model_fn=freqreg.model_fn("resnet18"), tensorboard_dir=args.tensorboard)
    cache = os.path.join(args.out, "trained", f"resnet18-{trainer.hash}.keras")
    if os.path.exists(cache):
        model = keras.models.load_model(cache)
        print(f"trained model: {cache} (cached)")
    else:
        print(f"training ResNet-18-CIFAR for {args.train_epochs} epochs on {dataset.source} (resumable)")
        spec = RunSpec(PLAIN, None, 0, "ref")
        trainer.run_all([spec])
        if not hasattr(trainer, "final_model"):  # finished in an earlier, interrupted invocation: retrain
            os.remove(trainer.results_path)
            trainer.run_all([spec])
        model = trainer.final_model
        model.save(cache)
    accuracy = reorder.evaluate(model, data.x_test, data.y_test)
    params = model.count_params()
    identity = {"model_sha256": reorder.model_fingerprint(model), "data_sha256": data.identity["sha256"],
                "train_epochs": args.train_epochs, "finetune_epochs": 0 if args.no_finetune else 1,
                "finetune_images": None if args.no_finetune else min(args.finetune_images or len(data.x_train), len(data.x_train))}
    print(f"uncompressed: {params:,} parameters, test accuracy {accuracy:.4f} ({len(data.x_test)} test images)")
    settings = reorder.default_grid(tuple(args.groups), tuple(args.rates), tuple(args.r0), tuple(args.methods))
    if not args.no_finetune:
        reorder.run_reference(model, data, args.out, identity, finetune_images=identity["finetune_images"])
    reorder.run_grid(model, settings, data, args.out, identity, finetune_epochs=0 if args.no_finetune else 1,
                     finetune_images=identity["finetune_images"])
    rows = [row for row in read_rows(os.path.join(args.out, "results.jsonl"))
            if all(row.get(k) == v for k, v in identity.items())]
    title = (f"Reorder-DCT compression of ResNet-18-CIFAR ({args.train_epochs} training epochs on "
             f"{len(data.x_train):,} images of {os.path.basename(str(args.data))}; test: {len(data.x_test):,} images"
             + ("" if args.no_finetune else f"; fine-tune: 1 epoch over {identity['finetune_images']:,} images") + ")")
    table = reorder.render_table(rows, accuracy, params, title)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table)
    reorder.render_plots(rows, accuracy, params, args.out)
    print(table)
    print(f"wrote {args.out}/table.md, accuracy_vs_params.png, nsse_vs_rate.png")


if __name__ == "__main__":
    cli.run_main(main)
