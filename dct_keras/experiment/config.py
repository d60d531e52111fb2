"""Experiment configs: JSON files checked against the schema of the method they name.

Every config names its method (``"method": "dct_conv" | "freqreg" | "harmonic"
| "reorder" | "ctnet"``) and its experiment (``"experiment"``: the id its
result rows carry and reports look the config up by). The keys every method
shares (`COMMON_SCHEMA`: data, optimizer, learning-rate schedule, batch size,
epochs, runs, ...) are checked here; the method's own keys by the schema the
method declares (`dct_keras.experiment.protocol.Method.schema`).

Budget tiers: ``quick`` (``--quick``, a smoke run) and ``budget``
(``--budget``, the CPU-scale evidence runs) hold the data subset sizes
(``train_examples``, ``test_examples``) and any top-level key they replace; a
nested section is merged one level deep (``"tail_dropout": {"gamma": 0.9}``
changes only gamma). A tier is valid when the config with it applied is.
Unknown keys and wrongly typed values are rejected with a message naming them.

This module is pure Python: a command line checks a config before it loads
the framework.
"""

import copy
import hashlib
import json
import os

from dct_keras.architectures import ARCHITECTURES
from dct_keras.experiment.errors import ConfigError

NUMBER = (int, float)
SCHEDULE_SCHEMA = {"piecewise": list, "halving": {"initial": NUMBER, "factor": NUMBER, "every": int}, "constant": NUMBER,
                   "cosine": {"initial": NUMBER, "final": NUMBER, "warmup_epochs": int}}
COMMON_SCHEMA = {
    "method": str,
    "experiment": str,
    "title": str,
    "dataset": str,
    "task": str,
    "optimizer": {"name": str, "momentum": NUMBER, "nesterov": bool, "beta_1": NUMBER, "beta_2": NUMBER,
                  "weight_decay": NUMBER, "global_clipnorm": NUMBER},
    "learning_rate": SCHEDULE_SCHEMA,
    "batch_size": int,
    "epochs": int,
    "l2": NUMBER,
    "loss": str,
    "metric": str,
    "runs": int,
    "augment": bool,
    "input_normalization": str,
    "epoch_examples": int,
    "quick": dict,
    "budget": dict,
    "recipe": str,
    "recipes": dict,
    "notes": str,
}
COMMON_OPTIONAL = {
    "notes", "quick", "budget", "recipe", "recipes", "input_normalization", "epoch_examples", "l2", "augment",
    "optimizer.momentum", "optimizer.nesterov", "optimizer.beta_1", "optimizer.beta_2", "optimizer.weight_decay",
    "optimizer.global_clipnorm", "learning_rate.cosine.warmup_epochs",
    *(f"learning_rate.{key}" for key in SCHEDULE_SCHEMA),
}
TIERS = ("quick", "budget")
# Keys only a tier has: its data subset and its prose.
TIER_KEYS = {"train_examples": int, "test_examples": int, "notes": str}
# A recipe (``recipes.<name>``): the config's keys it sets, and where it comes from (its paper run or code).
RECIPE_KEYS = {"source": str}
# Autoencoder inputs: eq. (4) per-channel standardization (dct_conv.txt §V-A) or raw [0, 1] pixels.
INPUT_NORMALIZATIONS = ("eq4", "unit")
TASKS = ("classification", "reconstruction")
OPTIMIZERS = ("sgd", "adam", "adamw")
CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def config_names():
    """The names of the configs shipped with the package (``configs/<name>.json``)."""
    return sorted(name[:-5] for name in os.listdir(CONFIG_DIR) if name.endswith(".json"))


def resolve_config(name_or_path):
    """A config file path: ``name_or_path`` itself when it is a file, else the
    shipped config of that name. Raises `ConfigError` naming the choices."""
    if os.path.isfile(name_or_path):
        return name_or_path
    if os.path.isdir(name_or_path):
        raise ConfigError(f"{name_or_path} is a folder, not a config file; the shipped configs are {config_names()}.")
    shipped = os.path.join(CONFIG_DIR, os.path.basename(name_or_path).removesuffix(".json") + ".json")
    if os.path.sep not in name_or_path and os.path.isfile(shipped):
        return shipped
    raise ConfigError(f"{name_or_path} does not exist: pass a config file or the name of a shipped config "
                      f"({', '.join(config_names())}).")


def shipped_config(experiment):
    """The shipped config whose ``experiment`` is ``experiment``, or None."""
    path = os.path.join(CONFIG_DIR, f"{experiment}.json")
    return load_config(path) if os.path.isfile(path) else None


def load_config(path):
    """Reads and validates a config file; returns a plain dict."""
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (a config is JSON).") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not valid JSON ({error}).") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a config file.") from None
    validate_config(config, source=str(path))
    return config


def validate_config(config, source="config"):
    """Checks ``config`` against its method's schema, as written and with each
    of its tiers applied."""
    from dct_keras.experiment.protocol import method_class

    if not isinstance(config, dict):
        raise ConfigError(f"{source}: a config is a JSON object.")
    if not isinstance(config.get("method"), str):
        raise ConfigError(f"{source}: missing key `method` (one of {sorted(_method_names())}).")
    try:
        method = method_class(config["method"])
    except KeyError:
        raise ConfigError(f"{source}: `method` must be one of {sorted(_method_names())}, got {config['method']!r}.") from None
    schema = {**COMMON_SCHEMA, **method.schema}
    optional = COMMON_OPTIONAL | set(method.optional)
    check_section(config, schema, "", source, optional)
    _check_common(config, source)
    method.validate(config, source)
    _check_recipes(config, schema, method, source)
    for tier in TIERS:
        if tier not in config:
            continue
        check_section(config[tier], {**{k: v for k, v in schema.items() if k not in TIERS}, **TIER_KEYS}, f"{tier}.", source,
                      {f"{tier}.{key}" for key in schema} | {f"{tier}.{key}" for key in TIER_KEYS}, partial=True)
        for key in ("train_examples", "test_examples"):
            if config[tier].get(key, 1) < 1:
                raise ConfigError(f"{source}: `{tier}.{key}` must be >= 1, got {config[tier][key]!r}.")
        applied = apply_overrides(config, tier=tier)
        _check_common(applied, f"{source} (with its {tier} tier)")
        method.validate(applied, f"{source} (with its {tier} tier)")


def _check_recipes(config, schema, method, source):
    """``recipes``: named sections of the config's own keys (plus ``source``),
    each valid when applied; ``recipe``: the one applied by default."""
    if ("recipe" in config) != ("recipes" in config):
        raise ConfigError(f"{source}: `recipe` (the default) and `recipes` (the named ones) come together.")
    if "recipes" not in config:
        return
    if config["recipe"] not in config["recipes"]:
        raise ConfigError(f"{source}: `recipe` {config['recipe']!r} is not one of `recipes` ({sorted(config['recipes'])}).")
    keys = {k: v for k, v in schema.items() if k not in (*TIERS, "recipe", "recipes", "runs")}
    for name, recipe in config["recipes"].items():
        check_section(recipe, {**keys, **RECIPE_KEYS}, f"recipes.{name}.", source,
                      {f"recipes.{name}.{key}" for key in keys}, partial=True)
        applied = apply_overrides(config, recipe=name)
        _check_common(applied, f"{source} (with its recipe {name!r})")
        method.validate(applied, f"{source} (with its recipe {name!r})")


def _method_names():
    from dct_keras.experiment.protocol import METHODS

    return METHODS


MODELS = ARCHITECTURES  # `dct_keras.models.BUILDERS`'s names, declared in one place


def _check_common(config, source):
    models = [config["model"]] if isinstance(config.get("model"), str) else list(config.get("models") or ())
    for model in models:
        if model not in MODELS:
            key = "model" if "model" in config else "models"
            raise ConfigError(f"{source}: `{key}` names an unknown architecture {model!r}; the architectures are {list(MODELS)}.")
    if config.get("input_normalization", "eq4") not in INPUT_NORMALIZATIONS:
        raise ConfigError(f"{source}: `input_normalization` must be one of {INPUT_NORMALIZATIONS}, got {config['input_normalization']!r}.")
    for key in ("epochs", "runs", "batch_size"):
        if config[key] < 1:
            raise ConfigError(f"{source}: `{key}` must be >= 1, got {config[key]!r}.")
    if config.get("epoch_examples", 1) < 1:
        raise ConfigError(f"{source}: `epoch_examples` must be >= 1, got {config['epoch_examples']!r}.")
    if config["task"] not in TASKS:
        raise ConfigError(f"{source}: `task` must be one of {TASKS}, got {config['task']!r}.")
    if config["optimizer"]["name"] not in OPTIMIZERS:
        raise ConfigError(f"{source}: `optimizer.name` must be one of {OPTIMIZERS}, got {config['optimizer']['name']!r}.")
    _check_schedule(config["learning_rate"], "learning_rate", source)


def _check_schedule(schedule, path, source):
    schedules = [k for k in SCHEDULE_SCHEMA if k in schedule]
    if len(schedules) != 1:
        raise ConfigError(f"{source}: `{path}` needs exactly one of {' / '.join(SCHEDULE_SCHEMA)}, got {schedules}.")
    for pair in schedule.get("piecewise", []):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int) and isinstance(pair[1], NUMBER)):
            raise ConfigError(f"{source}: `{path}.piecewise` entries must be [until_epoch, rate], got {pair!r}.")


def check_section(section, schema, prefix, source, optional=(), partial=False):
    """Checks one object of a config: no unknown keys, every key of
    ``schema`` present (unless its dotted path is in ``optional`` or the
    section is ``partial``), leaf values of the schema's types, nested
    objects recursively. Raises `ConfigError` naming the key."""
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: `{prefix.rstrip('.') or 'config'}` must be an object.")
    for key in section:
        if key not in schema:
            raise ConfigError(f"{source}: unknown key `{prefix}{key}`; allowed: {sorted(schema)}.")
    for key, expected in schema.items():
        path = prefix + key
        if key not in section:
            if path not in optional and not partial:
                raise ConfigError(f"{source}: missing key `{path}`.")
            continue
        value = section[key]
        if isinstance(expected, dict):
            check_section(value, expected, path + ".", source, optional, partial)
        elif isinstance(value, bool) and expected is not bool or not isinstance(value, expected):
            names = "/".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
            raise ConfigError(f"{source}: `{path}` must be of type {names}, got {type(value).__name__} ({value!r}).")


def apply_overrides(config, tier=None, epochs=None, runs=None, recipe=None):
    """The effective config of a run: its recipe (``recipe``, else the
    config's default, where it has ``recipes``), a budget tier ("quick" or
    "budget") and the command line's overrides applied, in that order. The
    tier's data subset sizes stay in its section (the caller cuts the data)."""
    config = copy.deepcopy(config)
    if "recipes" in config:
        name = config["recipe"] if recipe is None else recipe
        if name not in config["recipes"]:
            raise ConfigError(f"the config has no recipe {name!r} (it has: {sorted(config['recipes'])}).")
        _merge(config, config["recipes"][name], RECIPE_KEYS)
        config["recipe"] = name
    elif recipe is not None:
        raise ConfigError("the config has no `recipes` to choose from.")
    if tier is not None:
        if tier not in TIERS:
            raise ValueError(f"Invalid value for argument `tier`: expected one of {TIERS}, received {tier!r}.")
        if tier not in config:
            raise ConfigError(f"the config defines no {tier!r} budget.")
        _merge(config, config[tier], TIER_KEYS)
    config["tier"] = tier or "full"
    if epochs is not None:
        config["epochs"] = int(epochs)
    if runs is not None:
        config["runs"] = int(runs)
    return config


def _merge(config, section, own_keys):
    """``section``'s values over ``config``'s (a dict merged key by key, a
    learning-rate schedule replaced whole), less the section's ``own_keys``."""
    for key, value in section.items():
        if key in own_keys:
            continue
        if isinstance(value, dict) and isinstance(config.get(key), dict) and key != "learning_rate":
            config[key] = {**config[key], **copy.deepcopy(value)}
        else:
            config[key] = copy.deepcopy(value)


# Keys that do not change what any single run computes: the number of seeds,
# the unused budget sections and recipes (the applied one is merged in), prose
# and the paper's reference numbers.
_NOT_DETERMINING = ("runs", "quick", "budget", "recipes", "notes", "title", "tier", "paper")


def config_hash(config, data_identity=None):
    """Short stable hash of everything that determines a run's result: the
    effective config (less the keys of ``_NOT_DETERMINING``) and the data's
    identity (`ImageDataset.identity`)."""
    determining = {k: v for k, v in config.items() if k not in _NOT_DETERMINING}
    payload = {"config": determining, "data": data_identity}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
