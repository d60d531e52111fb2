"""Compress a trained Keras model by reorder-DCT (reorder_dct_compression.txt).

    python reproductions/reorder_compress.py --model PATH.keras [--groups 4] [--rate 8 | --r0 0.25]
        [--strategy uniform|progressive-r|progressive-g] [--distance euclidean|cosine] [--skip NAME ...]
        [--no-reorder] [--finetune-data DATA.npz [--batch-size 64] [--input-normalization eq4|unit|raw]]
        [--out DIR]

Writes ``<out>/compressed.keras`` and a report (``report.json`` and
``report.md``: per layer and in total the parameters before and after, order
vectors included, trainable parameters, nSSE, file sizes). With
``--finetune-data`` (arrays x_train, y_train, x_test, y_test) it also gives the
test accuracy of the original model, of the compressed one, and after one
epoch of fine-tuning (no augmentation, SGD momentum 0.9, lr 0.001 x batch /
256, §4.2), and saves ``finetuned.keras``. The model file is loaded in Keras's
safe mode (no code runs from it).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import cli  # noqa: E402

STRATEGIES = ("uniform", "progressive-r", "progressive-g")


def main(argv=None):
    parser = cli.Parser(description=__doc__.splitlines()[0], formatter_class=cli.argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=cli.existing_path, required=True, help="the trained model (.keras)")
    parser.add_argument("--groups", type=cli.positive_int, default=4, help="g, rows per kernel (default: %(default)s)")
    parser.add_argument("--rate", type=cli.positive_float, default=8, help="r of uniform / progressive-g (default: %(default)s)")
    parser.add_argument("--r0", type=cli.positive_float, help="r0 of progressive-r")
    parser.add_argument("--strategy", choices=STRATEGIES, default="uniform")
    parser.add_argument("--distance", choices=["euclidean", "cosine"], default="euclidean")
    parser.add_argument("--skip", nargs="*", help="layers left uncompressed (default: the first Conv2D)")
    parser.add_argument("--no-reorder", action="store_true", help="the baseline without Alg. 1")
    parser.add_argument("--finetune-data", type=cli.existing_path, help=".npz with x_train, y_train, x_test, y_test")
    parser.add_argument("--batch-size", type=cli.positive_int, default=64)
    parser.add_argument("--input-normalization", choices=["eq4", "unit", "raw"], default="eq4",
                        help="how the images feed the model: eq. (4) with training statistics, [0, 1], or as stored")
    parser.add_argument("--out", help="output folder (default: next to the model, <name>-reorder)")
    args = parser.parse_args(argv)
    if args.strategy == "progressive-r" and args.r0 is None:
        raise cli.UsageError("--strategy progressive-r needs --r0 (the paper uses 0.125 - 2)")
    if args.rate < 1:
        raise cli.UsageError(f"--rate {args.rate:g}: a compression rate must be >= 1")
    if not args.model.endswith(".keras"):
        raise cli.UsageError(f"--model {args.model}: expected a .keras file")
    args.out = args.out or os.path.splitext(args.model)[0] + "-reorder"

    keras = cli.import_framework()
    from dct_keras.compression import compress, compression_table
    from dct_keras.experiment import reorder

    try:
        model = keras.models.load_model(args.model)
    except Exception as error:  # noqa: BLE001 - Keras raises many kinds for a bad file
        raise cli.RunError(f"--model {args.model}: not a loadable Keras model ({type(error).__name__}: "
                           f"{str(error).splitlines()[0] if str(error) else ''})") from None
    try:
        compressed = compress(model, groups=args.groups, rate=args.rate, r0=args.r0, strategy=args.strategy,
                              distance=args.distance, skip=args.skip, reorder=not args.no_reorder)
    except ValueError as error:
        raise cli.UsageError(str(error)) from None
    os.makedirs(args.out, exist_ok=True)
    compressed.save(os.path.join(args.out, "compressed.keras"))
    table = compression_table(model, compressed)
    report = {"model": args.model, "groups": args.groups, "rate": args.rate, "r0": args.r0, "strategy": args.strategy,
              "distance": args.distance, "reorder": not args.no_reorder, "layers": table,
              "bytes_original": os.path.getsize(args.model),
              "bytes_compressed": os.path.getsize(os.path.join(args.out, "compressed.keras"))}
    if args.finetune_data:
        data = _finetune_data(args)
        report["accuracy_original"] = reorder.evaluate(model, data["x_test"], data["y_test"])
        report["accuracy_compressed"] = reorder.evaluate(compressed, data["x_test"], data["y_test"])
        reorder.finetune(compressed, data["x_train"], data["y_train"], args.batch_size, verbose=2)
        report["accuracy_finetuned"] = reorder.evaluate(compressed, data["x_test"], data["y_test"])
        compressed.save(os.path.join(args.out, "finetuned.keras"))
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    rows = [[r["layer"], f"{r['params_before']:,}", f"{r['params_after']:,}", f"{r['trainable_after']:,}",
             "—" if r["rows"] is None else r["rows"], "—" if r["kept"] is None else r["kept"], f"{r['nsse']:.5f}"] for r in table]
    from dct_keras.experiment.tables import markdown_table

    text = markdown_table(["layer", "params before", "params after (incl. order)", "trainable after", "g", "t", "nSSE"], rows,
                          f"Reorder-DCT compression of {os.path.basename(args.model)}", notes=[
                              f"Files: {report['bytes_original']:,} B -> {report['bytes_compressed']:,} B (.keras)."] + (
                              [f"Test accuracy: original {report['accuracy_original']:.4f}, compressed "
                               f"{report['accuracy_compressed']:.4f}, after one epoch of fine-tuning "
                               f"{report['accuracy_finetuned']:.4f}."] if args.finetune_data else []))
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    print(text)
    print(f"wrote {args.out}/compressed.keras, report.json, report.md")


def _finetune_data(args):
    from dct_keras.data import channel_statistics, load_image_dataset, normalize, to_unit_range

    dataset = load_image_dataset(path=args.finetune_data)
    if args.input_normalization == "eq4":
        mean, std = channel_statistics(dataset.x_train)
        prepare = lambda x: normalize(x, mean, std)  # noqa: E731
    elif args.input_normalization == "unit":
        prepare = to_unit_range
    else:
        prepare = lambda x: x.astype("float32")  # noqa: E731
    return {"x_train": prepare(dataset.x_train), "y_train": dataset.y_train,
            "x_test": prepare(dataset.x_test), "y_test": dataset.y_test}


if __name__ == "__main__":
    cli.run_main(main)
