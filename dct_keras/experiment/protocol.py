"""The one experiment protocol every method implements.

A method (DCT-Conv's Table V, FreqReg, Harmonic, reorder-DCT, CTNet, and
the frontier that compares them in shipped bytes) is one
module of `dct_keras.experiment` holding a `Method` subclass. It answers the
same questions for the one `Runner` (which knows no method):

* `Method.schema` / `Method.validate` – its config keys (beside
  `dct_keras.experiment.config.COMMON_SCHEMA`);
* `Method.add_arguments` / `Method.configure` / `Method.plan` – the command
  line's options, the effective config they make (one named step, before
  planning) and the `RunSpec`s the selection means, in protocol order (pure
  Python: checked before the framework loads; `plan` changes nothing);
* `Method.input_requirements` – what images its networks can take;
* `Method.setup` – once per invocation, before the runs (e.g. train and cache
  the model reorder-DCT compresses);
* `Method.build` – the compiled model of a run (built, or loaded and
  compressed);
* `Method.callbacks` – its `fit` callbacks (state kept in the model);
* `Method.start_fields` / `Method.fields` – its own result fields, measured
  before training (kept in the checkpoint) and after; `Method.shipped` – the
  files it ships (their bytes are itemized in the row);
* `Method.render` – its table (markdown) and plots from result rows.

Modules are imported lazily and import Keras only inside these methods, so a
command line validates a config and its arguments before TensorFlow loads.
"""

import dataclasses
import importlib
import math
import re

# Method name (a config's "method") -> module holding its `Method` subclass.
METHODS = {
    "dct_conv": "dct_keras.experiment.dct_conv",
    "freqreg": "dct_keras.experiment.freqreg",
    "harmonic": "dct_keras.experiment.harmonic",
    "reorder": "dct_keras.experiment.reorder",
    "ctnet": "dct_keras.experiment.ctnet",
    "frontier": "dct_keras.experiment.frontier",
}


def method_class(name):
    """The `Method` subclass of ``name`` (KeyError for an unknown one)."""
    return importlib.import_module(METHODS[name]).METHOD


def slug(text):
    """``text`` as a run-key part: letters, digits, ``.`` and ``-``; the rest ``_``."""
    return re.sub(r"[^A-Za-z0-9.\-]+", "_", text).strip("_")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run of a method.

    Attributes:
        setting: the method's name of what is run ("dct-p0.5", "lenet5-v1",
            "CTNet-18", "reorder-uniform-rows4-rate8"; "plain" for the
            unmodified model).
        seed: the run's seed (model initialization, masks, data order).
        options: what the method's `build` / `callbacks` read (JSON values);
            written into the row's ``method_fields``.
        epochs: None for the config's epochs; 0 to evaluate without training.
        examples: training examples per epoch (a seeded sample); None for
            the config's ``epoch_examples`` (or all).
    """

    setting: str
    seed: int
    options: dict = dataclasses.field(default_factory=dict, compare=False, hash=False)
    epochs: int | None = None
    examples: int | None = None

    @property
    def key(self):
        return f"{slug(self.setting)}-seed{self.seed}"


class Method:
    """Base of the five methods; the defaults fit a method that trains a
    built model and has no fields of its own.

    An instance holds the effective config (`apply_overrides` applied);
    ``context`` attributes set by `setup` are the method's own.
    """

    name = None
    schema = {}
    optional = ()

    def __init__(self, config):
        self.config = config

    # --- config and command line (pure Python) ---
    @classmethod
    def validate(cls, config, source):
        """Raises `ConfigError` for values the schema's types do not catch."""

    @classmethod
    def add_arguments(cls, parser):
        """Adds the method's selection options to an `argparse` parser."""

    @classmethod
    def configure(cls, config, args):
        """The effective config of the method's command-line options in
        ``args`` (a new dict; ``config`` is left as it is). Raises
        `UsageError` naming a bad option."""
        return config

    def plan(self, args=None):
        """The `RunSpec`s of the selection in ``args`` (all for None), in
        protocol order; pure (the config is not changed). Raises `UsageError`
        naming a bad selection."""
        raise NotImplementedError

    def identity(self):
        """The part of the config that determines every row of the method
        (hashed with the data's identity into a row's ``config_hash``; the
        report never puts rows of two identities in one table): the whole
        config unless a method knows better."""
        return self.config

    def learning_rate(self, spec):
        """The ``learning_rate`` section (schedule) of a run: the config's."""
        return self.config["learning_rate"]

    def run_identity(self, spec):
        """What determines one run beyond `identity` (hashed into its row's
        ``run_hash``), or None: nothing more."""
        return None

    def input_requirements(self):
        """``(model name, (minimum side, divisor of the side))`` per network
        the selection builds (see `dct_keras.models.INPUT_REQUIREMENTS`)."""
        from dct_keras.models import INPUT_REQUIREMENTS

        return [(self.config["model"], INPUT_REQUIREMENTS[self.config["model"]])]

    # --- running (the framework is loaded) ---
    def setup(self, data, out_dir, log, verbose="auto"):
        """Runs once before the plan (e.g. trains a model to compress)."""

    def build(self, spec, data):
        raise NotImplementedError

    def callbacks(self, spec, data):
        return []

    def start_fields(self, spec, model, data, build_s=None):
        """Fields measured on the built model before any training
        (``build_s``: the seconds `build` took; None when the model was given)."""
        return {}

    def fields(self, spec, model, data, out_dir, run_id):
        """Fields measured on the final model (e.g. after an export)."""
        return {}

    def shipped(self, spec, model, out_dir, run_id):
        """``{part: path}`` of the files the method ships for this run."""
        return {}

    # --- reporting (pure Python + matplotlib) ---
    def render(self, rows, out_dir, results_dir=None):
        """Markdown of the method's table(s) of ``rows`` (one experiment);
        plots written under ``out_dir``; ``results_dir``: the folder of the
        rows, where a method keeps measurements made after its runs (None:
        ``out_dir``). Returns ``(markdown, plot paths)``."""
        raise NotImplementedError


def select_numbers(requested, grid, argument, extra=("plain",), domain=(0.0, 1.0)):
    """The requested numbers as grid values, compared as numbers; ``extra``
    words pass through. Raises `UsageError` naming the bad value and the
    valid choices."""
    from dct_keras.experiment.errors import UsageError

    if requested is None:
        return None
    grid_text = "[" + ", ".join(f"{p:g}" for p in grid) + "]"
    chosen = []
    for text in requested:
        word = str(text).lower()
        if word in extra:
            chosen.append(word)
            continue
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"{argument} {text}: expected a number in [{domain[0]:g}, {domain[1]:g}] or one of "
                             f"{list(extra)}; the grid is {grid_text}") from None
        if not domain[0] <= value <= domain[1]:
            raise UsageError(f"{argument} {text}: must be in [{domain[0]:g}, {domain[1]:g}]; the grid is {grid_text}")
        match = [p for p in grid if math.isclose(p, value, abs_tol=1e-9)]
        if not match:
            raise UsageError(f"{argument} {text}: not in this config's grid {grid_text}" + (f" (or {list(extra)})" if extra else ""))
        chosen.append(match[0])
    return chosen


def select_names(selected, known, argument, noun):
    """``selected`` (a list or None) checked against ``known``; raises
    `UsageError` naming the unknown ones and the choices."""
    from dct_keras.experiment.errors import UsageError

    unknown = sorted(set(selected or []) - set(known))
    if unknown:
        raise UsageError(f"{argument} {' '.join(unknown)}: not in the config; its {noun} are {sorted(known)}")
    return selected


def add_settings_argument(parser):
    """``--settings NAME ...`` (alias ``--variants``): a subset of a config's named ``settings``."""
    parser.add_argument("--settings", "--variants", dest="settings", nargs="+", metavar="NAME",
                        help="subset of the config's settings")


def chosen_settings(config, args):
    """The config's ``settings`` names that ``args.settings`` selects (all by default)."""
    return select_names(getattr(args, "settings", None), config["settings"], "--settings", "settings") or list(config["settings"])
