"""Reorder-DCT compression (reorder_dct_compression.txt §4) as one `Method`.

`setup` trains (or loads from its cache) the model to compress: the config's
``base`` names another experiment config and one of its settings (e.g. the
FreqReg experiment's plain ResNet-18-CIFAR) and the epochs to train it; it is
trained through the same `Runner` under ``<out>/trained/`` and cached as a
``.keras`` file (no pretrained weights can be downloaded here).

Every setting of the ``grid`` (uniform ``rows`` x ``compression_rates``,
progressive-r ``r0`` at the first rows count; each by every ``compressors``
entry: "reorder" (Alg. 1-3), "no-reorder" (Alg. 2 without Alg. 1), "l1" (the
paper's Table 1 baseline: whole size-g columns of the same reshape pruned by
their l1 norm, the kept columns' positions counted) and "l1-unstructured"
(ours: the largest weights of every row, no index cost)) is one run: `build` compresses
the trained model, `start_fields` measures it as compressed (test accuracy,
nSSE per layer, parameters), and the `Runner` fine-tunes it with the config's
regime (one epoch, SGD momentum 0.9 at lr 0.001 x batch / 256, §4.2; the
``epoch_examples`` of a tier make that epoch a seeded sample). The "l1"
baseline gets the same fine-tune with its zeros held (`callbacks.KeepZeros`),
as in the paper; "l1-unstructured" is evaluated as pruned. The setting ``uncompressed`` runs the trained
model through the same fine-tune: what the extra epoch alone gives.
"""

import dataclasses
import os

from dct_keras.experiment.errors import ConfigError
from dct_keras.experiment.protocol import Method, RunSpec
from dct_keras.experiment.tables import markdown_table, pyplot

UNCOMPRESSED = "uncompressed"
COMPRESSORS = ("reorder", "no-reorder", "l1", "l1-unstructured")
L1_STRUCTURE = {"l1": "columns", "l1-unstructured": "weights"}  # compressor -> `l1_prune(structure=...)`
STRATEGIES = ("uniform", "progressive-r", "progressive-g")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One grid point: a compressor, a strategy with its rows g and
    compression rate r (or r0)."""

    compressor: str
    strategy: str
    rows: int
    compression_rate: float | None = None
    r0: float | None = None

    @property
    def name(self):
        budget = f"rate{self.compression_rate:g}" if self.r0 is None else f"r0_{self.r0:g}"
        return f"{self.compressor}-{self.strategy}-rows{self.rows}-{budget}"

    def options(self):
        return dataclasses.asdict(self)


def grid_settings(grid):
    """§4.2's grid: uniform rows x compression rates and progressive-r r0 (at
    the first rows count), per compressor."""
    settings = []
    for compressor in grid["compressors"]:
        settings += [Setting(compressor, "uniform", g, compression_rate=r) for g in grid["rows"] for r in grid["compression_rates"]]
        settings += [Setting(compressor, "progressive-r", grid["rows"][0], r0=r0) for r0 in grid["r0"]]
    return settings


class ReorderDCT(Method):
    """reorder_dct_compression.txt §4: a trained model compressed over a grid."""

    name = "reorder"
    schema = {
        "base": {"config": str, "setting": str, "epochs": int},
        "grid": {"rows": list, "compression_rates": list, "r0": list, "compressors": list},
        "distance": str,
    }
    optional = ("distance",)

    @classmethod
    def validate(cls, config, source):
        grid = config["grid"]
        if not grid["rows"] or not all(isinstance(g, int) and g >= 1 for g in grid["rows"]):
            raise ConfigError(f"{source}: `grid.rows` must hold integers >= 1.")
        numbers = all(isinstance(v, (int, float)) for v in grid["compression_rates"] + grid["r0"])
        if not numbers or not all(1 <= v < 1e6 for v in grid["compression_rates"]) or not all(0 < v < 1e6 for v in grid["r0"]):
            raise ConfigError(f"{source}: `grid.compression_rates` must hold numbers >= 1 and `grid.r0` numbers > 0 "
                              "(both below 1e6).")
        if not set(grid["compressors"]) <= set(COMPRESSORS):
            raise ConfigError(f"{source}: `grid.compressors` must be among {COMPRESSORS}, got {grid['compressors']!r}.")
        if config.get("distance", "euclidean") not in ("euclidean", "cosine"):
            raise ConfigError(f"{source}: `distance` must be 'euclidean' or 'cosine', got {config['distance']!r}.")
        if config["base"]["epochs"] < 1:
            raise ConfigError(f"{source}: `base.epochs` must be >= 1.")

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--rows", "--groups", dest="rows", type=int, nargs="+", metavar="G",
                            help="g of the uniform grid (the paper's 'groups')")
        parser.add_argument("--compression-rates", "--rates", dest="compression_rates", type=float, nargs="+", metavar="R",
                            help="r of the uniform grid (>= 1)")
        parser.add_argument("--r0", type=float, nargs="+", help="progressive-r r0 values (> 0)")
        parser.add_argument("--compressors", "--methods", dest="compressors", nargs="+", choices=COMPRESSORS)
        parser.add_argument("--base-epochs", "--train-epochs", dest="base_epochs", type=int, metavar="N",
                            help="epochs of the trained model to compress")
        parser.add_argument("--finetune-images", type=int, metavar="N",
                            help="fine-tune on a seeded N-image sample of the training set (default: the tier's)")
        parser.add_argument("--no-finetune", action="store_true", help="evaluate as compressed, without fine-tuning")

    @classmethod
    def configure(cls, config, args):
        """The grid, base epochs and fine-tune images of the command line."""
        from dct_keras.experiment.errors import UsageError

        config = {**config, "grid": dict(config["grid"]), "base": dict(config["base"])}
        for key in ("rows", "compression_rates", "r0", "compressors"):
            if getattr(args, key, None):
                config["grid"][key] = list(getattr(args, key))
        if getattr(args, "base_epochs", None):
            config["base"]["epochs"] = args.base_epochs
        if getattr(args, "finetune_images", None):
            config["epoch_examples"] = args.finetune_images
        try:
            cls.validate(config, "the command line")
        except ConfigError as error:
            raise UsageError(str(error).replace("the command line: `grid.", "--").replace("`", "")) from None
        return config

    def plan(self, args=None):
        """The uncompressed reference, then every grid setting."""
        grid = self.config["grid"]
        epochs = 0 if getattr(args, "no_finetune", False) else None
        plan = [RunSpec(UNCOMPRESSED, 0, {"compressor": None}, epochs)] if epochs is None else []
        for setting in grid_settings(grid):
            plan.append(RunSpec(setting.name, 0, setting.options(), 0 if setting.compressor == "l1-unstructured" else epochs))
        return plan

    def input_requirements(self):
        from dct_keras.experiment.protocol import method_class
        from dct_keras.experiment.config import load_config, resolve_config

        base = load_config(resolve_config(self.config["base"]["config"]))
        return method_class(base["method"])(base).input_requirements()

    def setup(self, data, out_dir, log, verbose="auto"):
        """Trains the model to compress through the base experiment's method
        (resumable) and caches it; ``self.trained`` is that model."""
        from dct_keras.experiment.config import apply_overrides, load_config, resolve_config
        from dct_keras.experiment.protocol import method_class
        from dct_keras.experiment.runner import evaluate, train_cached

        base = self.config["base"]
        config = apply_overrides(load_config(resolve_config(base["config"])), epochs=base["epochs"], runs=1)
        method = method_class(config["method"])(config)
        spec = next((s for s in method.plan() if s.setting == base["setting"] and s.seed == 0), None)
        if spec is None:
            raise ConfigError(f"`base.setting` {base['setting']!r} is not a setting of {base['config']} "
                              f"({sorted({s.setting for s in method.plan()})}).")
        self.trained, _ = train_cached(method, spec, data, out_dir, log, verbose)
        accuracy = float(evaluate(self.trained, data.x_test, data.y_test)["accuracy"])
        log(f"uncompressed: {self.trained.count_params():,} parameters, test accuracy {accuracy:.4f}")

    def build(self, spec, data):
        import keras

        from dct_keras.compression import compress, l1_prune
        from dct_keras.experiment.runner import compile_model

        options = spec.options
        if options["compressor"] is None:
            model = keras.models.clone_model(self.trained)
            model.set_weights(self.trained.get_weights())
        elif options["compressor"] in L1_STRUCTURE:
            model, _ = l1_prune(self.trained, structure=L1_STRUCTURE[options["compressor"]], **self._arguments(options))
        else:
            model = compress(self.trained, reorder=options["compressor"] == "reorder", progress=False,
                             distance=self.config.get("distance", "euclidean"), **self._arguments(options))
        return compile_model(model, self.config)

    @staticmethod
    def _arguments(options):
        return dict(rows=options["rows"], compression_rate=options["compression_rate"] or 8, r0=options["r0"],
                    strategy=options["strategy"])

    def callbacks(self, spec, data):
        if spec.options["compressor"] in L1_STRUCTURE:  # the fine-tune must not regrow the pruned weights
            from dct_keras.callbacks import KeepZeros

            return [KeepZeros()]
        return []

    def start_fields(self, spec, model, data, build_s=None):
        """The model as compressed: test accuracy, parameters, nSSE."""
        import numpy as np

        from dct_keras.compression import compression_table, plan_compression
        from dct_keras.experiment.runner import evaluate

        fields = {"accuracy_compressed": float(evaluate(model, data.x_test, data.y_test)["accuracy"]),
                  "trained_sha256": model_fingerprint(self.trained), "base_epochs": self.config["base"]["epochs"]}
        compressor = spec.options["compressor"]
        if compressor is None:
            return fields
        fields["compress_s"] = build_s  # build is the compression (and a compile)
        if compressor in L1_STRUCTURE:  # the kept weights of the pruned layers, all other weights whole
            plans = plan_compression(self.trained, **self._arguments(spec.options))
            total = sum(int(np.prod(w.shape)) for w in self.trained.weights)
            # "l1": plus the t positions of a layer's kept columns; "l1-unstructured": no index storage counted.
            indices = sum(p.kept for p in plans) if compressor == "l1" else 0
            fields.update(layers=len(plans), params_kept=total - sum(p.size for p in plans) + sum(p.rows * p.kept for p in plans)
                          + indices)
            return fields
        table = compression_table(self.trained, model)
        fields.update(layers=len(table) - 1, nsse=table[-1]["nsse"],
                      nsse_layers={r["layer"]: round(r["nsse"], 6) for r in table[:-1]})
        return fields

    def render(self, rows, out_dir, results_dir=None):
        """One line per setting, the uncompressed model first; the plots
        ``accuracy_vs_params.png`` (Fig. 2) and ``nsse_vs_rate.png`` (§4.1)."""
        reference = next((r for r in rows if r["setting"] == UNCOMPRESSED), None)
        if reference is None:
            raise ConfigError("the results hold no 'uncompressed' row, so there is nothing to compare the settings with.")
        first = rows[0]
        tuned = any(r["epochs_done"] for r in rows)
        title = (f"Reorder-DCT compression of ResNet-18-CIFAR ({reference['method_fields']['base_epochs']} training epochs on "
                 f"{first['train_examples']:,} images of {os.path.basename(first['data'].split(' (')[0])}; test: "
                 f"{first['test_examples']:,} images" + (f"; fine-tune: 1 epoch over {first['epoch_examples']:,} images"
                                                         if tuned else "") + ")")
        paths = [os.path.join(out_dir, "accuracy_vs_params.png"), os.path.join(out_dir, "nsse_vs_rate.png")]
        render_plots(rows, reference, paths)
        return render_table(rows, reference, title), paths


METHOD = ReorderDCT

FINETUNE_BASE_RATE = 0.001  # x batch size / 256 (§4.2)


def compress_file(args):
    """`dct-keras compress`: reorder-DCT of the .keras model ``args.model``
    into ``args.out`` (compressed.keras, report.json, report.md; with
    ``args.finetune_data``, the accuracies and finetuned.keras). Returns the
    markdown report and the written paths."""
    import json

    import keras

    from dct_keras.compression import NothingToCompress, compress, compression_table
    from dct_keras.experiment.errors import RunError, UsageError
    from dct_keras.experiment.loading import load_keras_model
    from dct_keras.experiment.data import load_image_dataset, normalize_like
    from dct_keras.experiment.runner import epoch_data, evaluate

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out}: is a file; compress writes a folder (compressed.keras, report.json, report.md)")
    model = load_keras_model(args.model, "MODEL")
    if args.finetune_data:  # checked before the compression, not after it
        dataset = load_image_dataset(path=args.finetune_data)
        expected, got = tuple(model.input_shape[1:]), tuple(dataset.x_train.shape[1:])
        if got != expected and got + (1,) != expected:
            raise UsageError(f"--finetune-data {args.finetune_data}: images of shape {got}, but {args.model} takes inputs of "
                             f"shape {expected}.")
        classes = model.output_shape[-1]
        if dataset.num_classes > classes:
            raise UsageError(f"--finetune-data {args.finetune_data}: labels up to {dataset.num_classes - 1}, but "
                             f"{args.model} has {classes} outputs.")
    try:
        compressed = compress(model, rows=args.rows, compression_rate=args.compression_rate, r0=args.r0,
                              strategy=args.strategy, distance=args.distance, skip=args.skip, reorder=not args.no_reorder)
    except NothingToCompress as error:  # about the file (exit 1)
        raise RunError(f"MODEL {args.model}: {error}") from None
    except ValueError as error:  # an argument out of range for this model (exit 2)
        raise UsageError(str(error)) from None
    os.makedirs(args.out, exist_ok=True)
    paths = {name: os.path.join(args.out, name) for name in ("compressed.keras", "finetuned.keras", "report.json", "report.md")}
    for stale in paths.values():  # a reused --out keeps nothing of an earlier compression
        if os.path.exists(stale):
            os.remove(stale)
    compressed.save(paths["compressed.keras"])
    table = compression_table(model, compressed)
    report = {"model": args.model, "rows": args.rows, "compression_rate": args.compression_rate, "r0": args.r0,
              "strategy": args.strategy, "distance": args.distance, "reorder": not args.no_reorder, "layers": table,
              "bytes_original": os.path.getsize(args.model), "bytes_compressed": os.path.getsize(paths["compressed.keras"])}
    if args.finetune_data:
        prepare = normalize_like(dataset, args.input_normalization)
        x_train, x_test = prepare(dataset.x_train), prepare(dataset.x_test)
        for name, candidate in (("original", model), ("compressed", compressed)):
            candidate.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            report[f"accuracy_{name}"] = float(evaluate(candidate, x_test, dataset.y_test)["accuracy"])
        compressed.compile(optimizer=keras.optimizers.SGD(FINETUNE_BASE_RATE * args.batch_size / 256, momentum=0.9),
                           loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        compressed.fit(epoch_data(x_train, dataset.y_train, args.batch_size, 0, 0), verbose=2)
        report["accuracy_finetuned"] = float(evaluate(compressed, x_test, dataset.y_test)["accuracy"])
        compressed.save(paths["finetuned.keras"])
    with open(paths["report.json"], "w") as f:
        json.dump(report, f, indent=1)
    rows = [[r["layer"], f"{r['params_before']:,}", f"{r['params_after']:,}", f"{r['trainable_after']:,}",
             "—" if r["rows"] is None else r["rows"], "—" if r["kept"] is None else r["kept"], f"{r['nsse']:.5f}"] for r in table]
    notes = [f"Files: {report['bytes_original']:,} B -> {report['bytes_compressed']:,} B (.keras)."
             + ("" if report["bytes_compressed"] < report["bytes_original"] else
                " The compressed file is not smaller: reorder-DCT stores order indices beside the kept rows, which "
                "costs more than it saves at this rate on these layers (try a higher --compression-rate, or "
                "--skip the layers where it does not pay).")]
    if args.finetune_data:
        notes.append(f"Test accuracy: original {report['accuracy_original']:.4f}, compressed {report['accuracy_compressed']:.4f}, "
                     f"after one epoch of fine-tuning {report['accuracy_finetuned']:.4f}.")
    text = markdown_table(["layer", "params before", "params after (incl. order)", "trainable after", "g", "t", "nSSE"], rows,
                          f"Reorder-DCT compression of {os.path.basename(args.model)}", notes=notes)
    with open(paths["report.md"], "w") as f:
        f.write(text)
    return text, [path for path in paths.values() if os.path.exists(path)]


def model_fingerprint(model):
    """SHA-256 (16 hex digits) of a model's weights: identifies the trained model a row compressed."""
    import hashlib

    import keras
    import numpy as np

    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()[:16]


def _params(row):
    fields = row["method_fields"]
    return fields["params_kept"] if fields["compressor"] in L1_STRUCTURE else row["params"]["total"]


def _tuned(row):
    return row["epochs_done"] > 0


def render_table(rows, reference, title=None):
    """Markdown: one line per setting, the uncompressed model first."""
    header = ["setting", "compressor", "params (incl. order)", "% of original", "trainable", "nSSE", "accuracy compressed",
              "after 1-epoch fine-tune"]
    params = reference["params"]["total"]
    table = [["uncompressed", "—", f"{params:,}", "100 %", f"{reference['params']['trainable']:,}", "0",
              f"{reference['method_fields']['accuracy_compressed']:.4f}",
              f"{reference['metric']:.4f}" if _tuned(reference) else "—"]]
    settings = [r for r in rows if r["setting"] != UNCOMPRESSED]
    for row in sorted(settings, key=lambda r: (r["method_fields"]["compressor"], r["method_fields"]["strategy"],
                                               r["method_fields"]["rows"], r["method_fields"]["compression_rate"] or 0,
                                               r["method_fields"]["r0"] or 0)):
        f = row["method_fields"]
        budget = f"g={f['rows']}, " + (f"r={f['compression_rate']:g}" if f["r0"] is None else f"r0={f['r0']:g}")
        l1 = f["compressor"] in L1_STRUCTURE
        table.append([f"{f['strategy']} {budget}", f["compressor"], f"{_params(row):,}", f"{100 * _params(row) / params:.1f} %",
                      "—" if l1 else f"{row['params']['trainable']:,}", "—" if l1 else f"{f['nsse']:.4f}",
                      f"{f['accuracy_compressed']:.4f}", f"{row['metric']:.4f}" if _tuned(row) else "—"])
    return markdown_table(header, table, title)


def render_plots(rows, reference, paths):
    """Accuracy vs parameters (Fig. 2) and nSSE vs compression rate (§4.1)."""
    plt = pyplot()
    settings = [r for r in rows if r["setting"] != UNCOMPRESSED]
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for key, style in _series(settings):
        points = sorted((_params(r), r["metric"]) for r in settings if _series_key(r) == key)
        compressor, strategy, rows_count = key
        axis.plot(*zip(*points), style, label=f"{compressor} {strategy} g={rows_count}" + (" (fine-tuned)" if compressor != "l1-unstructured" else ""))
    axis.axhline(reference["method_fields"]["accuracy_compressed"], color="k", lw=0.8, ls=":", label="uncompressed")
    if _tuned(reference):
        axis.axhline(reference["metric"], color="k", lw=0.8, ls="--", label="uncompressed + the same fine-tune")
    _finish(plt, figure, axis, "parameters (incl. order vectors)", "test accuracy", {"value": "log"}, paths[0])

    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for key, style in _series(settings):
        compressor, strategy, rows_count = key
        if compressor in L1_STRUCTURE or strategy != "uniform":
            continue
        points = sorted((r["method_fields"]["compression_rate"], r["method_fields"]["nsse"]) for r in settings
                        if _series_key(r) == key)
        axis.plot(*zip(*points), style, label=f"{compressor} g={rows_count}")
    _finish(plt, figure, axis, "compression rate r", "nSSE (all compressed layers)", {"value": "log", "base": 2}, paths[1])


def _series_key(row):
    f = row["method_fields"]
    return f["compressor"], f["strategy"], f["rows"]


def _series(rows):
    styles = {"reorder": "-o", "no-reorder": "--s", "l1": "-.v", "l1-unstructured": ":^"}
    return [(key, styles[key[0]]) for key in sorted({_series_key(r) for r in rows})]


def _finish(plt, figure, axis, xlabel, ylabel, xscale, path):
    axis.set_xscale(**xscale)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
