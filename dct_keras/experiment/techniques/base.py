"""`Technique`, the declaration every technique makes, and the registry."""

import dataclasses
import numbers

from dct_keras.experiment.errors import ConfigError

_REGISTRY = {}


@dataclasses.dataclass
class Context:
    """What a technique builds from (the framework is loaded).

    Attributes:
        config: the experiment's effective config (its technique sections).
        build_plain: ``build_plain(variant)``: the config's architecture,
            freshly initialized, in a `LayerFactory` variant.
        trained: a copy of the trained plain network (its weights kept), or
            None when the technique trains from scratch.
        steps: the optimizer steps the run will take.
    """

    config: dict
    build_plain: object
    trained: object = None
    steps: int = 1

    def source(self):
        """The network to convert: the trained one, else a fresh plain one."""
        return self.trained if self.trained is not None else self.build_plain("plain")


class Technique:
    """One way to ship a network at a budget. Subclasses set the attributes
    and override `model` (and `callbacks` / `fields` where they have some).

    Attributes:
        name: the technique's name in configs, run keys and tables.
        budget_word: what its budget is ("sparsity", "kept_fraction", ...);
            None for a technique that takes no budget (``[null]``).
        marker: its matplotlib marker in plots.
        trains: False for a technique that ships the trained plain network
            as it is (no training of its own).
        needs_trained: True when it always starts from the trained plain
            network (compression of a trained model), whatever ``start``.
        reference: True for the technique a trained start adds by itself
            beside every configured one (not listed in configs).
        baseline: True when it also ships at float32 / float16.
        sections: its own config sections (a schema, as `COMMON_SCHEMA`).
        optional: dotted paths of optional keys of those sections.
        extra_points: result fields holding one more (bytes, accuracy) point
            of another shipping format (e.g. "h265").
        codes_itself: True when its model's weights carry their own
            quantization and coder: it ships once, at the config's smallest
            bit width (which reaches only its other weights).
        note: a sentence for the notes under a table that shows it.
    """

    name = None
    budget_word = None
    marker = "o"
    trains = True
    needs_trained = False
    reference = False
    baseline = False
    sections = {}
    optional = ()
    extra_points = ()
    codes_itself = False
    note = ""

    def check(self, config, budgets, source):
        """Raises `ConfigError` unless ``budgets`` (the config's list) and
        the technique's sections suit it."""
        if self.budget_word is None:
            if budgets != [None]:
                raise ConfigError(f"{source}: `techniques.{self.name}` takes no budget: write [null].")
            return
        if not all(isinstance(b, numbers.Real) and not isinstance(b, bool) and b > 0 for b in budgets):
            raise ConfigError(f"{source}: `techniques.{self.name}` must hold numbers > 0.")
        for section in self.sections:
            if section not in config:
                raise ConfigError(f"{source}: the {self.name} technique needs the config section `{section}`.")

    def setting(self, budget):
        """The run's setting name: ``<name>`` or ``<name>-<budget word><budget>``."""
        return self.name if budget is None else f"{self.name}-{self.budget_word}{budget:g}"

    def label(self, budget):
        """The budget as the table shows it."""
        return "—" if budget is None else f"{self.budget_word} {budget:g}"

    def model(self, context, budget, seed):
        """The (uncompiled) model of this technique at ``budget``."""
        raise NotImplementedError

    def callbacks(self, context, budget, seed):
        """Its `fit` callbacks."""
        return []

    def learning_rate(self, config):
        """Its learning-rate schedule (a ``learning_rate`` section): the
        config's, unless its recipe has its own (within the same epochs)."""
        return config["learning_rate"]

    def fields(self, model, context, budget, shipping):
        """Its own result fields of the final model; ``shipping``:
        `Shipping` (output folder, run id, the evaluation function)."""
        return {}


@dataclasses.dataclass
class Shipping:
    """Where a run's files go and how a decoded model is scored."""

    out_dir: str
    run_id: str
    evaluate: object  # evaluate(model) -> test accuracy


def register(instance):
    """Adds a technique instance to the registry (its name must be new)."""
    if not isinstance(instance, Technique) or not instance.name:
        raise TypeError(f"register() takes a Technique with a name, got {instance!r}.")
    if instance.name in _REGISTRY:
        raise ValueError(f"A technique named {instance.name!r} is already registered.")
    _REGISTRY[instance.name] = instance
    return instance


def unregister(name):
    """Removes a technique (for tests that register their own)."""
    _REGISTRY.pop(name)


def registered():
    """The registered techniques, in registration order."""
    return dict(_REGISTRY)


def technique(name):
    """The technique registered as ``name`` (KeyError naming the choices)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"No technique {name!r}; the techniques are {list(_REGISTRY)}.") from None
