"""Frequency Regularization (frequency_regularization.txt Tables 1-2) as one `Method`.

For every model of the config: the reference network (plain layers,
setting ``<model>-ref``), then each setting ``<model>-<name>``: the FreqReg
network trained with dynamic tail-dropout (`TailDropout`, beta_n = beta_{n-1}
- gamma (beta_{n-1} - epsilon)) towards the setting's ``kept_fraction``
(the paper's epsilon). A run's ``method_fields``: ``model``, ``kept_fraction``
(None for the reference) and the accuracy after a float16 export -> load
round trip; its shipped bytes are that export's. The kept kernel parameters
are the row's ``params.kernel_active`` (biases excluded, as in the paper).
"""

import collections
import os

import numpy as np

from dct_keras.experiment.config import check_section
from dct_keras.experiment.errors import ConfigError
from dct_keras.experiment.protocol import Method, RunSpec, select_names
from dct_keras.experiment.tables import SHORT_BUDGET_NOTE, budget_text, epochs_cell, markdown_table
from dct_keras.experiment.techniques.freqreg import TAIL_DROPOUT, TAIL_DROPOUT_OPTIONAL, tail_dropout

REFERENCE = "ref"


class FreqReg(Method):
    """frequency_regularization.txt: reference vs FreqReg at each kept fraction."""

    name = "freqreg"
    schema = {"tail_dropout": TAIL_DROPOUT, "models": dict}
    optional = TAIL_DROPOUT_OPTIONAL
    MODEL_SCHEMA = {"reference": dict, "settings": dict}
    SETTING_SCHEMA = {"kept_fraction": (int, float), "paper": dict}

    @classmethod
    def validate(cls, config, source):
        gamma = config["tail_dropout"]["gamma"]
        if not 0 < gamma <= 1:
            raise ConfigError(f"{source}: `tail_dropout.gamma` must be in (0, 1], got {gamma!r}.")
        for name, model in config["models"].items():
            check_section(model, cls.MODEL_SCHEMA, f"models.{name}.", source)
            for setting, spec in model["settings"].items():
                check_section(spec, cls.SETTING_SCHEMA, f"models.{name}.settings.{setting}.", source)
                if not 0 <= spec["kept_fraction"] <= 1:
                    raise ConfigError(f"{source}: `models.{name}.settings.{setting}.kept_fraction` must be in [0, 1].")

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--models", nargs="+", help="subset of the config's models")
        parser.add_argument("--settings", nargs="+", help="subset of settings: ref v1 v2 ...")
        parser.add_argument("--gamma", type=float, help="override the tail-dropout speed gamma, in (0, 1]")

    def models(self, args=None):
        return select_names(getattr(args, "models", None), self.config["models"], "--models", "models") or list(self.config["models"])

    @classmethod
    def configure(cls, config, args):
        """``--gamma`` replaces the tail-dropout speed."""
        from dct_keras.experiment.errors import UsageError

        gamma = getattr(args, "gamma", None)
        if gamma is None:
            return config
        if not 0 < gamma <= 1:
            raise UsageError(f"--gamma {gamma:g}: the tail-dropout speed must be in (0, 1]")
        return {**config, "tail_dropout": {**config["tail_dropout"], "gamma": gamma}}

    def plan(self, args=None):
        """Per model: the reference run, then one FreqReg run per setting."""
        models = self.models(args)
        known = {REFERENCE} | {s for m in models for s in self.config["models"][m]["settings"]}
        wanted = select_names(getattr(args, "settings", None), known, "--settings", "settings") or sorted(known)
        seeds = range(self.config["runs"])
        plan = []
        for model in models:
            if REFERENCE in wanted:
                plan += [RunSpec(f"{model}-{REFERENCE}", s, {"model": model, "kept_fraction": None}) for s in seeds]
            for name, setting in self.config["models"][model]["settings"].items():
                if name in wanted:
                    plan += [RunSpec(f"{model}-{name}", s, {"model": model, "kept_fraction": setting["kept_fraction"]})
                             for s in seeds]
        return plan

    def input_requirements(self):
        from dct_keras.models import INPUT_REQUIREMENTS

        return [(model, INPUT_REQUIREMENTS[model]) for model in self.config["models"]]

    def build(self, spec, data):
        import keras

        from dct_keras.experiment.runner import compile_model
        from dct_keras.models import BUILDERS

        model_name = spec.options["model"]
        keras.utils.set_random_seed(spec.seed)
        kwargs = {"num_classes": data.num_classes, "input_shape": data.x_train.shape[1:], "seed": spec.seed}
        if model_name == "vgg16":
            kwargs["l2"] = self.config["l2"]
        variant = "plain" if spec.options["kept_fraction"] is None else "freqreg"
        return compile_model(BUILDERS[model_name](variant, **kwargs), self.config)

    def callbacks(self, spec, data):
        if spec.options["kept_fraction"] is None:
            return []
        return [tail_dropout(self.config["tail_dropout"], spec.options["kept_fraction"], spec.seed)]

    def _export_path(self, out_dir, run_id):
        return os.path.join(out_dir, "export", f"{run_id}.npz")

    def fields(self, spec, model, data, out_dir, run_id):
        """The accuracy after a float16 export -> load round trip."""
        if spec.options["kept_fraction"] is None:
            return {}
        import keras

        from dct_keras.export import load_compressed, save_compressed
        from dct_keras.experiment.runner import evaluate

        path = self._export_path(out_dir, run_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_compressed(model, path, dtype="float16")
        clone = keras.models.clone_model(model)
        clone.compile(loss=model.loss, metrics=["accuracy"])
        load_compressed(clone, path)
        return {"accuracy_float16": float(evaluate(clone, data.x_test, data.y_test)["accuracy"])}

    def shipped(self, spec, model, out_dir, run_id):
        path = self._export_path(out_dir, run_id)
        return {"float16_npz": path} if os.path.exists(path) else {}

    def render(self, rows, out_dir, results_dir=None):
        """One line per model and setting beside the paper's numbers."""
        header = ["model", "setting", "ours: accuracy", "float16 accuracy", "kept kernel params", "compress rate", "epochs",
                  "wall time", "paper: accuracy", "paper: params"]
        groups = collections.defaultdict(list)
        for row in rows:
            groups[row["setting"]].append(row)
        table = []
        for model_name, model in self.config["models"].items():
            for setting in [REFERENCE] + list(model["settings"]):
                runs = groups.get(f"{model_name}-{setting}", [])
                if not runs:
                    continue
                paper = model["reference"] if setting == REFERENCE else model["settings"][setting]["paper"]
                if setting == REFERENCE:
                    kept, rate, half = runs[0]["params"]["trainable"], "100% (1x)", "—"
                else:
                    kept = int(np.mean([r["params"]["kernel_active"] for r in runs]))
                    total = runs[0]["params"]["kernel"]
                    rate = f"{100 * kept / total:.3g}% ({total / max(kept, 1):.0f}x)"
                    half = f"{np.mean([r['method_fields']['accuracy_float16'] for r in runs]):.4f}"
                table.append([model_name, setting, f"{np.mean([r['metric'] for r in runs]):.4f} (n={len(runs)})", half,
                              f"{kept:,}", rate, epochs_cell(runs, self.config["epochs"]),
                              f"{sum(r['wall_time_s'] for r in runs):.0f} s", f"{paper['accuracy']:.4f}",
                              f"{paper['parameters']:,}"])
        text = markdown_table(header, table, self.config["title"], budget=budget_text(rows[0]), notes=[
            SHORT_BUDGET_NOTE + " Kept kernel params count non-zero kernel coefficients (biases excluded, as in the paper)."])
        return text, []


METHOD = FreqReg

