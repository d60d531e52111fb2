"""Harmonic networks (harmonic_networks.txt Table 1) as one `Method`: the WRN
and its harmonic versions under the WRN regime.

Each setting of the config is a named network (``WRN``, ``Harm-WRN``,
``Harm-WRN lambda=3``, ...); a run's ``method_fields``: ``variant`` (the WRN
builder's: "plain", "harm1", "harm", "progressive"), ``levels`` (lambda),
``dropout``, ``depth`` and ``width``, and the inference-path diagnosis of
`diagnose_inference` (``diagnosis``). The table gives each setting's median
test error beside the paper's; the plot each run's training curve and test
accuracy.
"""

import collections
import os

import numpy as np

from dct_keras.experiment.config import check_section
from dct_keras.experiment.errors import ConfigError
from dct_keras.experiment.protocol import Method, RunSpec, add_settings_argument, chosen_settings
from dct_keras.experiment.tables import SHORT_BUDGET_NOTE, budget_text, epochs_cell, markdown_table, pyplot

WRN_VARIANTS = ("plain", "harm1", "harm", "progressive")


class Harmonic(Method):
    """harmonic_networks.txt Table 1: WRN vs its harmonic versions."""

    name = "harmonic"
    schema = {"depth": int, "width": int, "settings": dict}
    SETTING_SCHEMA = {"variant": str, "levels": int, "dropout": (int, float), "paper": dict}

    @classmethod
    def validate(cls, config, source):
        for name, setting in config["settings"].items():
            check_section(setting, cls.SETTING_SCHEMA, f"settings.{name}.", source, {f"settings.{name}.levels"})
            if setting["variant"] not in WRN_VARIANTS:
                raise ConfigError(f"{source}: `settings.{name}.variant` must be one of {WRN_VARIANTS}, got {setting['variant']!r}.")

    @classmethod
    def add_arguments(cls, parser):
        add_settings_argument(parser)

    def plan(self, args=None):
        """One run per setting and seed."""
        names = chosen_settings(self.config, args)
        plan = []
        for name in names:
            setting = self.config["settings"][name]
            options = {"variant": setting["variant"], "levels": setting.get("levels"), "dropout": setting["dropout"],
                       "depth": self.config["depth"], "width": self.config["width"]}
            plan += [RunSpec(name, seed, options) for seed in range(self.config["runs"])]
        return plan

    def input_requirements(self):
        from dct_keras.models import INPUT_REQUIREMENTS

        return [("wide_resnet", INPUT_REQUIREMENTS["wide_resnet"])]

    def build(self, spec, data):
        import keras

        from dct_keras.experiment.runner import compile_model
        from dct_keras.models.harmonic_nets import wide_resnet

        options = spec.options
        keras.utils.set_random_seed(spec.seed)
        model = wide_resnet(options["variant"], depth=options["depth"], width=options["width"], num_classes=data.num_classes,
                            input_shape=data.x_train.shape[1:], dropout=options["dropout"], levels=options["levels"],
                            l2=self.config["l2"])
        return compile_model(model, self.config)

    def fields(self, spec, model, data, out_dir, run_id):
        return {"diagnosis": diagnose_inference(model, data)}

    def render(self, rows, out_dir, results_dir=None):
        """Each setting's median test error beside the paper's (the CIFAR-10 or
        CIFAR-100 column, by the data's number of classes); ``curves.png``."""
        column = "cifar100" if rows[0]["classes"] == 100 else "cifar10"
        groups = collections.defaultdict(list)
        for row in rows:
            groups[row["setting"]].append(row)
        header = ["variant", "ours: median error %", "n", "parameters", "epochs", "wall time", "paper: median error % (WRN-28-10)"]
        table = []
        for name, setting in self.config["settings"].items():
            runs = groups.get(name, [])
            if runs:
                table.append([name, f"{100 * (1 - np.median([r['metric'] for r in runs])):.2f}", len(runs),
                              f"{runs[0]['params']['trainable']:,}", epochs_cell(runs, self.config["epochs"]),
                              f"{sum(r['wall_time_s'] for r in runs):.0f} s", f"{setting['paper'][column]:.2f}"])
        fields = rows[0]["method_fields"]
        text = markdown_table(header, table, f"{self.config['title']} — WRN-{fields['depth']}-{fields['width']}, {column}",
                              budget=budget_text(rows[0]), notes=[SHORT_BUDGET_NOTE])
        path = os.path.join(out_dir, "curves.png")
        render_plot(self.config, rows, path)
        return text, [path]


METHOD = Harmonic


DIAGNOSIS_EXAMPLES = 2000


def diagnose_inference(model, data, examples=DIAGNOSIS_EXAMPLES, batch_size=128):
    """Where a test gap at equal training accuracy comes from: accuracies of
    the trained ``model`` (on copies; the model is not changed).

    * ``train_inference`` / ``train_training_mode`` – a seeded sample of
      ``examples`` training images (no augmentation) in inference mode (the
      moving statistics) and in training mode (batch statistics, dropout on);
    * ``test_recalibrated`` – the test accuracy after every normalization's
      moving statistics (the harmonic blocks' spectrum normalization too) are
      recomputed as the plain average over that sample (dropout off): a large
      gain over the run's test accuracy means stale moving statistics;
    * ``test_unmerged`` – harmonic networks only: the same weights with every
      `HarmonicConv` computing filter bank -> normalization -> 1x1
      (``merged=False``), in inference mode.
    """
    import keras

    from dct_keras.callbacks import recalibrate_normalization
    from dct_keras.layers import HarmonicConv
    from dct_keras.surgery import walk_layers

    order = np.random.default_rng(0).permutation(len(data.x_train))[:examples]
    x, y = data.x_train[order], data.y_train[order]

    def accuracy(net, images, labels, training=False):
        hits = 0
        for start in range(0, len(images), batch_size):
            scores = keras.ops.convert_to_numpy(net(images[start:start + batch_size], training=training))
            hits += int((scores.argmax(-1) == labels[start:start + batch_size]).sum())
        return hits / len(images)

    def copy(merged=None):
        config = model.get_config()
        if merged is not None:
            for layer in config["layers"]:
                if layer["class_name"].endswith("HarmonicConv"):
                    layer["config"]["merged"] = merged
        net = model.__class__.from_config(config)
        net.set_weights(model.get_weights())
        return net

    found = {"train_inference": accuracy(model, x, y), "train_training_mode": accuracy(copy(), x, y, training=True)}
    recalibrated = copy()
    recalibrate_normalization(recalibrated, x, batch_size)
    found["test_recalibrated"] = accuracy(recalibrated, data.x_test, data.y_test)
    if any(isinstance(layer, HarmonicConv) for layer in walk_layers(model)):
        found["test_unmerged"] = accuracy(copy(merged=False), data.x_test, data.y_test)
    return found


def render_plot(config, rows, path):
    """Each run's training accuracy per epoch (augmented, dropout on), its
    final test accuracy as a star at its last epoch."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for row in rows:
        epochs = range(1, len(row["history"]) + 1)
        line, = axis.plot(epochs, [e["accuracy"] for e in row["history"]], "-o", ms=3,
                          label=f"{row['setting']} (seed {row['seed']}): test {row['metric']:.4f}")
        axis.plot(row["epochs_done"], row["metric"], "*", ms=12, color=line.get_color())
    fields = rows[0]["method_fields"]
    axis.set_xlabel("epoch")
    axis.set_ylabel("accuracy (line: training; star: test)")
    axis.set_title(f"{config['title']}: WRN-{fields['depth']}-{fields['width']}, {rows[0]['tier']} tier", fontsize=8)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
