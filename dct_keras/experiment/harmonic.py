"""Harmonic networks (harmonic_networks.txt Table 1) as one `Method`: the WRN
and its harmonic versions under the WRN regime.

Each setting of the config is a named network (``WRN``, ``Harm-WRN``,
``Harm-WRN lambda=3``, ...); a run's ``method_fields``: ``variant`` (the WRN
builder's: "plain", "harm1", "harm", "progressive"), ``levels`` (lambda),
``dropout``, ``depth`` and ``width``. The table gives each setting's median
test error beside the paper's; the plot each run's training curve and test
accuracy.
"""

import collections
import os

import numpy as np

from dct_keras.experiment.config import ConfigError, check_section
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

    def render(self, rows, out_dir):
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
