"""CTNet experiments (ctnet_h265.txt): a DCT-domain ResNet-18 trained under the
H.265 rate proxy, exported as H.265 video, decoded and evaluated.

Every variant of the config is the same network: our CIFAR-style ResNet-18
(`dct_keras.models.resnet18_cifar`) converted to the DCT family, 3x3 kernels
as 2-D DCT-Conv, 1x1 shortcuts and the FC layer in CTNet's channel form
(16 x 16 blocks over (in, out)), trained with AdamW. A ``rate_proxy`` variant
adds `H265RateProxy` on every coefficient tensor (its `RateWarmup` ramp) and
the training-time noise ``u q``; the other is the same model without them,
the budget-matched reference. After every epoch `ExportSizeLogger` logs the
test accuracy and the H.265 size of the model as it stands (the paper's
accuracy-vs-size over checkpoints); a finished run is exported to
``<out>/export/<run>-<hash>/``, decoded by `load_h265` and evaluated again.
"""

import os
import tempfile
import time

import keras
import numpy as np

from dct_keras.callbacks import RateWarmup
from dct_keras.experiment.plans import RunSpec
from dct_keras.experiment.results import RESULTS_FILE, read_rows
from dct_keras.experiment.runner import make_optimizer
from dct_keras.experiment.tables import SHORT_BUDGET_NOTE, epochs_cell, markdown_table, pyplot
from dct_keras.export.h265 import export_h265, load_h265
from dct_keras.models.resnet18_cifar import resnet18_cifar
from dct_keras.regularizers import H265RateProxy
from dct_keras.surgery import convert


def plan(config, variants=None):
    """One run per variant name and seed (the name, slugged, keys the run)."""
    names = variants or list(config["variants"])
    return [RunSpec(_slug(name), None, seed, name) for name in names for seed in range(config["runs"])]


def _slug(name):
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def build_model(config, variant, num_classes, input_shape, seed):
    """The variant's DCT ResNet-18, compiled with the config's AdamW."""
    proxy = config["rate_proxy"]
    keras.utils.set_random_seed(seed)
    plain = resnet18_cifar("plain", num_classes=num_classes, input_shape=input_shape, seed=seed)
    options = dict(pointwise="channel_block_dct2d", pointwise_block=proxy["block"])
    if config["variants"][variant]["rate_proxy"]:
        options["kernel_regularizer"] = H265RateProxy(proxy["strength"], proxy["q"], proxy["sharpness"], proxy["block"],
                                                      proxy["l2_ratio"])
        options["training_noise"] = proxy["q"] if proxy["training_noise"] else 0.0
    # The coefficients start as the forward DCT of the plain model's He-normal
    # kernels (orthonormal: the same distribution), identical across variants.
    model = convert(plain, to="dct", dense=True, seed=seed, **options)
    model.compile(optimizer=make_optimizer(config), loss=config["loss"], metrics=["accuracy"])
    return model


def model_fn(config, spec, data):
    return build_model(config, spec.block, data.num_classes, data.x_train.shape[1:], spec.seed)


class ExportSizeLogger(keras.callbacks.Callback):
    """After every epoch: ``test_accuracy`` and ``h265_bytes`` (the whole
    export: video + raw tensors + manifest) of the model as it stands."""

    def __init__(self, x_test, y_test, export_options, batch_size=256):
        super().__init__()
        self.x_test, self.y_test = x_test, y_test
        self.export_options = export_options
        self.batch_size = batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        scores = self.model.evaluate(self.x_test, self.y_test, batch_size=self.batch_size, verbose=0, return_dict=True)
        logs["test_accuracy"] = float(scores["accuracy"])
        with tempfile.TemporaryDirectory() as folder:
            sizes = export_h265(self.model, folder, progress=False, baselines=False, **self.export_options)
        logs["h265_bytes"] = sizes["total"]


def callbacks_fn(config, data):
    def callbacks(spec):
        found = [ExportSizeLogger(data.x_test, data.y_test, export_options(config))]
        if config["variants"][spec.block]["rate_proxy"]:
            found.insert(0, RateWarmup(config["rate_proxy"]["warmup_epochs"]))
        return found

    return callbacks


def export_options(config):
    export = config["export"]
    return {"bit_depth": export["bit_depth"], "lossless": export["lossless"], "preset": export["preset"]}


def row_fn(config, data, out_dir, config_hash):
    """The finished run exported to ``<out_dir>/export/<run>-<hash>/``,
    decoded and evaluated: sizes per part, the baselines, times, decoded accuracy."""

    def extra(model, spec):
        folder = os.path.join(out_dir, "export", f"{spec.key}-{config_hash}")
        sizes = export_h265(model, folder, **export_options(config))
        start = time.perf_counter()
        decoded = load_h265(folder)
        load_s = time.perf_counter() - start
        decoded.compile(loss=config["loss"], metrics=["accuracy"])
        scores = decoded.evaluate(data.x_test, data.y_test, batch_size=256, verbose=0, return_dict=True)
        return {"export_dir": os.path.relpath(folder, out_dir), "h265": sizes, "load_s": round(load_s, 2),
                "accuracy_decoded": float(scores["accuracy"])}

    return extra


def render_table(config, out_dir, full_epochs, hashes=None):
    """Ours (one line per run) beside the paper's table."""
    rows = [r for r in read_rows(os.path.join(out_dir, RESULTS_FILE)) if not hashes or r.get("config_hash") in hashes]
    header = ["run", "epochs", "best acc", "final acc", "decoded acc", "total size", "ratio", "video / raw",
              "lzma of the pixels", "float16 .npz", "export / decode"]
    table = []
    for row in rows:
        sizes = row["h265"]
        table.append([f"{row['block']} (seed {row['seed']})", epochs_cell([row], full_epochs), f"{best_accuracy(row):.4f}",
                      f"{row['metric']:.4f}", f"{row['accuracy_decoded']:.4f}", f"{sizes['total'] / 1024:,.0f} KB",
                      f"{sizes['ratio']:.1f}x", f"{sizes['video'] / 1024:,.0f} / {sizes['raw'] / 1024:,.0f} KB",
                      f"{sizes['lzma_pixels'] / 1024:,.0f} KB", f"{sizes['float16_npz'] / 1024:,.0f} KB",
                      f"{sizes['export_s']:.0f} s / {row['load_s']:.0f} s"])
    for paper in config["paper"]:
        table.append([f"paper: {paper['run']}", paper["epochs"], f"{paper['best']:.4f}", "—", f"{paper['decoded']:.4f}",
                      f"{paper['size_kb']:,} KB", f"{paper['ratio']}x", "—", "—", "—", "—"])
    export = config["export"]
    notes = [SHORT_BUDGET_NOTE,
             f"Sizes: the whole export ({export['bit_depth']}-bit, {'lossless' if export['lossless'] else 'lossy'}, "
             f"preset {export['preset']}); ratio = float32 model size / total. Best acc: the best test accuracy after "
             "any epoch; decoded acc: the final model after export and `load_h265`. The paper's rows are ImageNette "
             "at 320 px from an ImageNet-pretrained start (Run 1: from scratch, 12-bit)."]
    text = markdown_table(header, table, config["title"], notes=notes)
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(text)
    return text


def render_plot(rows, path):
    """Test accuracy vs H.265 size after every epoch, one line per run; the
    decoded final model as a star."""
    plt = pyplot()

    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for row in rows:
        points = [(e["h265_bytes"] / 1024, e["test_accuracy"]) for e in row["history"] if "h265_bytes" in e]
        if not points:
            continue
        line, = axis.plot(*zip(*points), "-o", ms=3, label=f"{row['block']} (seed {row['seed']})")
        axis.plot(row["h265"]["total"] / 1024, row["accuracy_decoded"], "*", ms=12, color=line.get_color())
    axis.set_xscale("log")
    axis.set_xlabel("H.265 export size (KB)")
    axis.set_ylabel("test accuracy")
    axis.set_title("accuracy vs size over training (star: decoded final model)", fontsize=9)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def best_accuracy(row):
    """The best test accuracy after any epoch of a run (or its final one)."""
    return float(np.max([e.get("test_accuracy", 0.0) for e in row["history"]] + [row["metric"]]))
