"""CTNet (ctnet_h265.txt) as one `Method`: a DCT-domain ResNet-18 trained
under the H.265 rate proxy, exported as H.265 video, decoded and evaluated.

Every setting of the config is the same network: our CIFAR-style ResNet-18
(`dct_keras.models.resnet18_cifar`, its batch normalization as the config's
``normalization``) converted to the DCT family, 3x3 kernels as 2-D DCT-Conv,
1x1 shortcuts in CTNet's channel form (``rate_proxy.block`` x ``block``
blocks over (in, out)), the FC layer plain, every coefficient drawn by the
config's ``kernel_initializer`` (the authors' ``kaiming_uniform_(a=sqrt(5))``
on the coefficients). A setting names what it trains with: ``rate_term``
(`H265RateProxy`'s rate under lambda and its `RateWarmup` ramp) and
``perturbations`` (the rest of the recipe: the L2 coupling, the training
noise ``u q``, coefficient dropout, export-aware rounding); the config's
``recipes`` are the authors' runs (``--recipe``). After every epoch
`ExportSizeLogger` logs the test accuracy and the H.265 size of the model as
it stands (the paper's accuracy-vs-size over checkpoints); a finished run is
exported to ``<out>/export/<run>-<hash>/`` (its shipped bytes: video, raw
tensors, manifest), decoded by `load_h265` and evaluated again
(``method_fields``: ``recipe``, ``h265`` sizes and baselines,
``accuracy_decoded``).
"""

import os
import tempfile
import time

import numpy as np

from dct_keras.experiment.protocol import Method, RunSpec, add_settings_argument, chosen_settings
from dct_keras.experiment.tables import SHORT_BUDGET_NOTE, budget_text, epochs_cell, markdown_table, pyplot


class CTNet(Method):
    """ctnet_h265.txt: CTNet-18 under the rate proxy, the same recipe without
    the rate term, and the plain DCT network."""

    name = "ctnet"
    schema = {
        "model": str,
        "kernel_initializer": dict,
        "normalization": {"momentum": (int, float), "epsilon": (int, float)},
        "rate_proxy": {"strength": (int, float), "q": (int, float), "sharpness": (int, float), "block": int,
                       "l2_ratio": (int, float), "warmup_epochs": int, "training_noise": bool,
                       "channel_positions": str, "coefficient_dropout": (int, float), "training_bits": int},
        "export": {"bit_depth": int, "lossless": bool, "preset": str, "crf": int},
        "settings": dict,
        "paper": list,
    }
    optional = ("export.crf", "rate_proxy.channel_positions", "rate_proxy.coefficient_dropout", "rate_proxy.training_bits")
    SETTING_SCHEMA = {"rate_term": bool, "perturbations": bool}

    @classmethod
    def validate(cls, config, source):
        from dct_keras.experiment.config import check_section
        from dct_keras.experiment.errors import ConfigError

        for name, setting in config["settings"].items():
            check_section(setting, cls.SETTING_SCHEMA, f"settings.{name}.", source)
        export = config["export"]
        if export["bit_depth"] not in (8, 10, 12):
            raise ConfigError(f"{source}: `export.bit_depth` must be 8, 10 or 12, got {export['bit_depth']!r}.")
        if export["lossless"] and "crf" in export:
            raise ConfigError(f"{source}: `export.crf` applies to a lossy export: drop it or set `export.lossless` to false.")
        if not export["lossless"] and not 0 <= export.get("crf", -1) <= 51:
            raise ConfigError(f"{source}: a lossy export (`export.lossless`: false) needs `export.crf` in 0-51 "
                              f"(x265's constant rate factor), got {export.get('crf')!r}.")

    @classmethod
    def add_arguments(cls, parser):
        add_settings_argument(parser)
        parser.add_argument("--recipe", help="one of the config's recipes (the authors' runs; default: the config's `recipe`)")

    def plan(self, args=None):
        """One run per setting and seed."""
        names = chosen_settings(self.config, args)
        return [RunSpec(name, seed, dict(self.config["settings"][name])) for name in names for seed in range(self.config["runs"])]

    def build(self, spec, data):
        """The setting's DCT network (the config's ``model``: ResNet-18 in the
        paper), compiled with the config's optimizer."""
        import keras

        from dct_keras.experiment.runner import compile_model
        from dct_keras.models import BUILDERS
        from dct_keras.surgery import convert

        keras.utils.set_random_seed(spec.seed)
        plain = BUILDERS[self.config["model"]]("plain", num_classes=data.num_classes, input_shape=data.x_train.shape[1:],
                                               seed=spec.seed, kernel_initializer=self.config["kernel_initializer"],
                                               normalization=self.config["normalization"])
        proxy = self.config["rate_proxy"]
        options = dict(pointwise="channel_block_dct2d", pointwise_block=proxy["block"])
        if spec.options["perturbations"]:
            options.update(training_noise=proxy["q"] if proxy["training_noise"] else 0.0,
                           coefficient_dropout=proxy.get("coefficient_dropout", 0.0),
                           training_bits=proxy.get("training_bits", 0))
        regularizer = rate_regularizer(proxy, **spec.options)
        if regularizer is not None:
            options["kernel_regularizer"] = regularizer
        # keep_weights=False: every coefficient drawn by the plain layer's
        # initializer (the authors draw `weight_dct` directly), identical across
        # settings; the FC layer stays plain (the paper and its authors' code
        # convert convolutions only).
        return compile_model(convert(plain, to="dct", dense=False, keep_weights=False, seed=spec.seed, **options), self.config)

    def callbacks(self, spec, data):
        from dct_keras.callbacks import RateWarmup

        found = [export_size_logger(data.x_test, data.y_test, export_options(self.config))]
        warmup = self.config["rate_proxy"]["warmup_epochs"]
        if warmup and rate_regularizer(self.config["rate_proxy"], **spec.options) is not None:
            found.insert(0, RateWarmup(warmup))
        return found

    def fields(self, spec, model, data, out_dir, run_id):
        """The finished run exported to ``<out_dir>/export/<run_id>/``, decoded
        and evaluated: sizes per part, the baselines, times, decoded accuracy."""
        from dct_keras.experiment.runner import evaluate
        from dct_keras.export.h265 import export_h265, load_h265

        folder = os.path.join(out_dir, "export", run_id)
        sizes = export_h265(model, folder, **export_options(self.config))
        start = time.perf_counter()
        decoded = load_h265(folder)
        load_s = time.perf_counter() - start
        decoded.compile(loss=self.config["loss"], metrics=["accuracy"])
        return {"recipe": self.config.get("recipe"), "export_dir": os.path.relpath(folder, out_dir), "h265": sizes,
                "load_s": round(load_s, 2),
                "accuracy_decoded": float(evaluate(decoded, data.x_test, data.y_test)["accuracy"])}

    def shipped(self, spec, model, out_dir, run_id):
        from dct_keras.export.h265 import FILES

        folder = os.path.join(out_dir, "export", run_id)
        return {part: os.path.join(folder, name) for part, name in FILES.items() if os.path.exists(os.path.join(folder, name))}

    def render(self, rows, out_dir, results_dir=None):
        """Ours (one line per run) beside the paper's table; the plot of
        accuracy against export size over the epochs."""
        path = os.path.join(out_dir, "accuracy_vs_size.png")
        render_plot(rows, path)
        return render_table(self.config, rows), [path]


METHOD = CTNet


def rate_regularizer(proxy, rate_term, perturbations):
    """The `H265RateProxy` of a setting: the rate term and, with the
    perturbations, the L2 coupling (``l2_ratio``); None when neither is on."""
    from dct_keras.regularizers import H265RateProxy

    l2_ratio = proxy["l2_ratio"] if perturbations else 0.0
    if not rate_term and not l2_ratio:
        return None
    return H265RateProxy(proxy["strength"], proxy["q"], proxy["sharpness"], proxy["block"], l2_ratio,
                         proxy.get("channel_positions", "matrix"), rate_term=rate_term)


def export_size_logger(x_test, y_test, export_options, batch_size=256):
    """`ExportSizeLogger` (a Keras callback, made here so that this module
    loads without Keras)."""
    import keras

    from dct_keras.experiment.runner import evaluate
    from dct_keras.export.h265 import export_h265

    class ExportSizeLogger(keras.callbacks.Callback):
        """After every epoch: ``test_accuracy`` and ``h265_bytes`` (the whole
        export: video + raw tensors + manifest) of the model as it stands."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            logs["test_accuracy"] = float(evaluate(self.model, x_test, y_test, batch_size)["accuracy"])
            with tempfile.TemporaryDirectory() as folder:
                sizes = export_h265(self.model, folder, progress=False, baselines=False, **export_options)
            logs["h265_bytes"] = sizes["total"]

    return ExportSizeLogger()


def export_options(config):
    export = config["export"]
    return {"bit_depth": export["bit_depth"], "lossless": export["lossless"], "preset": export["preset"],
            "crf": export.get("crf")}


def render_table(config, rows):
    """Ours (one line per run) beside the paper's table."""
    header = ["run", "epochs", "best acc", "final acc", "decoded acc", "total size", "ratio", "video / raw",
              "lzma of the pixels", "float16 .npz", "export / decode"]
    table = []
    for row in rows:
        fields = row["method_fields"]
        sizes = fields["h265"]
        table.append([run_label(row), epochs_cell([row], config["epochs"]), f"{best_accuracy(row):.4f}",
                      f"{row['metric']:.4f}", f"{fields['accuracy_decoded']:.4f}", f"{sizes['total'] / 1024:,.0f} KB",
                      f"{sizes['ratio']:.1f}x", f"{sizes['video'] / 1024:,.0f} / {sizes['raw'] / 1024:,.0f} KB",
                      f"{sizes['lzma_pixels'] / 1024:,.0f} KB", f"{sizes['float16_npz'] / 1024:,.0f} KB",
                      f"{sizes['export_s']:.0f} s / {fields['load_s']:.0f} s"])
    for paper in config["paper"]:
        table.append([f"paper: {paper['run']}", paper["epochs"], f"{paper['best']:.4f}", "—", f"{paper['decoded']:.4f}",
                      f"{paper['size_kb']:,} KB", f"{paper['ratio']}x", "—", "—", "—", "—"])
    export = config["export"]
    notes = [SHORT_BUDGET_NOTE,
             f"Sizes: the whole export ({export['bit_depth']}-bit, {'lossless' if export['lossless'] else 'lossy'}, "
             f"preset {export['preset']}); ratio = float32 model size / total. Best acc: the best test accuracy after "
             "any epoch; decoded acc: the final model after export and `load_h265`. The paper's rows are ImageNette "
             "at 320 px from an ImageNet-pretrained start (Run 1: from scratch, 12-bit)."]
    return markdown_table(header, table, config["title"], budget=budget_text(rows[0]), notes=notes)


def render_plot(rows, path):
    """Test accuracy vs H.265 size after every epoch, one line per run; the
    decoded final model as a star."""
    plt = pyplot()

    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for row in rows:
        points = [(e["h265_bytes"] / 1024, e["test_accuracy"]) for e in row["history"] if "h265_bytes" in e]
        if not points:
            continue
        line, = axis.plot(*zip(*points), "-o", ms=3, label=run_label(row))
        fields = row["method_fields"]
        axis.plot(fields["h265"]["total"] / 1024, fields["accuracy_decoded"], "*", ms=12, color=line.get_color())
    axis.set_xscale("log")
    axis.set_xlabel("H.265 export size (KB)")
    axis.set_ylabel("test accuracy")
    axis.set_title("accuracy vs size over training (star: decoded final model)", fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def run_label(row):
    """A run's setting, seed and recipe (rows before the recipes have none)."""
    recipe = row["method_fields"].get("recipe")
    return f"{row['setting']} (seed {row['seed']}" + (f", recipe {recipe})" if recipe else ")")


def best_accuracy(row):
    """The best test accuracy after any epoch of a run (or its final one)."""
    return float(np.max([e.get("test_accuracy", 0.0) for e in row["history"]] + [row["metric"]]))
