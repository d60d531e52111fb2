"""Experiment configs: JSON files in ``configs/`` checked against a schema.

A config holds every hyperparameter of one problem (model, optimizer, learning
rate schedule, batch size, epochs, L2, runs, the p grid of each Table V block,
the paper's numbers) and smaller budgets: ``quick`` (``--quick``, a smoke run)
and optionally ``budget`` (``--budget``, the CPU-scale evidence runs). Unknown keys and
wrongly typed values are rejected with a message naming them.
"""

import copy
import hashlib
import json

_NUMBER = (int, float)
_SCHEDULE_SCHEMA = {"piecewise": list, "halving": {"initial": _NUMBER, "factor": _NUMBER, "every": int}, "constant": _NUMBER}
# Leaf types; a dict is a nested section; keys in _OPTIONAL may be absent.
SCHEMA = {
    "problem": int,
    "title": str,
    "model": str,
    "task": str,
    "dataset": str,
    "optimizer": {"name": str, "momentum": _NUMBER, "nesterov": bool, "beta_1": _NUMBER, "beta_2": _NUMBER,
                  "weight_decay": _NUMBER},
    "learning_rate": _SCHEDULE_SCHEMA,
    "batch_size": int,
    "epochs": int,
    "l2": _NUMBER,
    "loss": str,
    "metric": str,
    "runs": int,
    "augment": bool,
    "blocks": dict,
    "quick": {"train_examples": int, "test_examples": int, "epochs": int, "runs": int, "batch_size": int, "gamma": _NUMBER,
              "depth": int, "width": int},
    "budget": {"train_examples": int, "test_examples": int, "epochs": int, "runs": int, "batch_size": int, "gamma": _NUMBER,
               "depth": int, "width": int, "learning_rate": _SCHEDULE_SCHEMA, "notes": str},
    "input_normalization": str,
    "notes": str,
}
TIERS = ("quick", "budget")
# Autoencoder inputs: eq. (4) per-channel standardization (dct_conv.txt §V-A) or raw [0, 1] pixels.
INPUT_NORMALIZATIONS = ("eq4", "unit")
_OPTIONAL = {
    "notes", "budget", "input_normalization", "budget.notes", "optimizer.momentum", "optimizer.nesterov", "optimizer.beta_1", "optimizer.beta_2", "optimizer.weight_decay",
    *(f"{section}.{key}" for section in ("learning_rate", "budget.learning_rate") for key in _SCHEDULE_SCHEMA),
    "budget.learning_rate",
    "tail_dropout.min_kept_conv", "tail_dropout.min_kept_dense", "tail_dropout.min_kept_transpose",
    *(f"{tier}.{key}" for tier in TIERS for key in ("train_examples", "test_examples", "batch_size", "gamma", "depth", "width")),
}
BLOCK_SCHEMA = {"variant": str, "p_grid": list, "paper": dict, "label": str}
# Frequency Regularization experiments: models, each with its kept-fraction settings.
FREQREG_SCHEMA = {
    **{k: v for k, v in SCHEMA.items() if k not in ("problem", "model", "blocks")},
    "problem": str,
    "tail_dropout": {"gamma": _NUMBER, "min_kept": int, "schedule": str, "min_kept_conv": int, "min_kept_dense": int, "min_kept_transpose": int},
    "models": dict,
}
MODEL_SCHEMA = {"reference": dict, "settings": dict}
# Harmonic networks: one architecture, several variants.
HARMONIC_SCHEMA = {
    **{k: v for k, v in SCHEMA.items() if k not in ("problem", "model", "blocks")},
    "problem": str,
    "depth": int,
    "width": int,
    "variants": dict,
}
VARIANT_SCHEMA = {"variant": str, "levels": int, "dropout": _NUMBER, "paper": dict}
# CTNet: DCT ResNet-18 variants with and without the H.265 rate proxy, then the H.265 export.
CTNET_SCHEMA = {
    **{k: v for k, v in SCHEMA.items() if k not in ("problem", "blocks")},
    "problem": str,
    "rate_proxy": {"strength": _NUMBER, "q": _NUMBER, "sharpness": _NUMBER, "block": int, "l2_ratio": _NUMBER,
                   "warmup_epochs": int, "training_noise": bool},
    "export": {"bit_depth": int, "lossless": bool, "preset": str},
    "variants": dict,
    "paper": list,
}
CTNET_VARIANT_SCHEMA = {"rate_proxy": bool}
SETTING_SCHEMA = {"epsilon": _NUMBER, "paper": dict}
TASKS = ("classification", "reconstruction")
OPTIMIZERS = ("sgd", "adam", "adamw")


class ConfigError(ValueError):
    """A config is malformed; the message names the offending key."""


def load_config(path):
    """Reads and validates a config file; returns a plain dict."""
    try:
        with open(path) as f:
            config = json.load(f)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not valid JSON ({error}).") from None
    validate_config(config, source=str(path))
    return config


def validate_config(config, source="config"):
    """Checks a DCT-Conv problem config, a FreqReg one (it has ``models``), a
    CTNet one (it has ``rate_proxy``) or a harmonic one (it has ``variants``)."""
    if isinstance(config, dict) and "rate_proxy" in config:
        _check_section(config, CTNET_SCHEMA, "", source)
        for name, variant in config["variants"].items():
            _check_section(variant, CTNET_VARIANT_SCHEMA, f"variants.{name}.", source)
        _check_common(config, source)
        return
    if isinstance(config, dict) and "variants" in config:
        _check_section(config, HARMONIC_SCHEMA, "", source)
        for name, variant in config["variants"].items():
            _check_section(variant, VARIANT_SCHEMA, f"variants.{name}.", source)
        _check_common(config, source)
        return
    if isinstance(config, dict) and "models" in config:
        _check_section(config, FREQREG_SCHEMA, "", source)
        for name, model in config["models"].items():
            _check_section(model, MODEL_SCHEMA, f"models.{name}.", source)
            for setting, spec in model["settings"].items():
                _check_section(spec, SETTING_SCHEMA, f"models.{name}.settings.{setting}.", source)
                if not 0 <= spec["epsilon"] <= 1:
                    raise ConfigError(f"{source}: `models.{name}.settings.{setting}.epsilon` must be in [0, 1].")
        _check_common(config, source)
        return
    _check_section(config, SCHEMA, "", source)
    _check_common(config, source)
    for name, block in config["blocks"].items():
        _check_section(block, BLOCK_SCHEMA, f"blocks.{name}.", source)
        if not all(isinstance(p, _NUMBER) and not isinstance(p, bool) and 0 <= p <= 1 for p in block["p_grid"]):
            raise ConfigError(f"{source}: `blocks.{name}.p_grid` must hold numbers in [0, 1].")


def _check_common(config, source):
    if config.get("input_normalization", "eq4") not in INPUT_NORMALIZATIONS:
        raise ConfigError(f"{source}: `input_normalization` must be one of {INPUT_NORMALIZATIONS}, got {config['input_normalization']!r}.")
    for tier in TIERS:
        for key in ("epochs", "runs", "train_examples", "test_examples", "batch_size"):
            value = config.get(tier, {}).get(key)
            if value is not None and value < 1:
                raise ConfigError(f"{source}: `{tier}.{key}` must be >= 1, got {value!r}.")
    for key in ("epochs", "runs", "batch_size"):
        if config[key] < 1:
            raise ConfigError(f"{source}: `{key}` must be >= 1, got {config[key]!r}.")
    if config["task"] not in TASKS:
        raise ConfigError(f"{source}: `task` must be one of {TASKS}, got {config['task']!r}.")
    if config["optimizer"]["name"] not in OPTIMIZERS:
        raise ConfigError(f"{source}: `optimizer.name` must be one of {OPTIMIZERS}, got {config['optimizer']['name']!r}.")
    _check_schedule(config["learning_rate"], "learning_rate", source)
    if "learning_rate" in config.get("budget", {}):
        _check_schedule(config["budget"]["learning_rate"], "budget.learning_rate", source)


def _check_schedule(schedule, path, source):
    schedules = [k for k in _SCHEDULE_SCHEMA if k in schedule]
    if len(schedules) != 1:
        raise ConfigError(f"{source}: `{path}` needs exactly one of piecewise / halving / constant, got {schedules}.")
    for pair in schedule.get("piecewise", []):
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int) and isinstance(pair[1], _NUMBER)):
            raise ConfigError(f"{source}: `{path}.piecewise` entries must be [until_epoch, rate], got {pair!r}.")


def _check_section(section, schema, prefix, source):
    if not isinstance(section, dict):
        raise ConfigError(f"{source}: `{prefix.rstrip('.') or 'config'}` must be an object.")
    for key in section:
        if key not in schema:
            raise ConfigError(f"{source}: unknown key `{prefix}{key}`; allowed: {sorted(schema)}.")
    for key, expected in schema.items():
        path = prefix + key
        if key not in section:
            optional = (prefix.startswith("blocks.") and key == "label") or (prefix.startswith("variants.") and key == "levels")
            if path not in _OPTIONAL and not optional:
                raise ConfigError(f"{source}: missing key `{path}`.")
            continue
        value = section[key]
        if isinstance(expected, dict):
            _check_section(value, expected, path + ".", source)
        elif isinstance(value, bool) and expected is not bool or not isinstance(value, expected):
            names = "/".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
            raise ConfigError(f"{source}: `{path}` must be of type {names}, got {type(value).__name__} ({value!r}).")


def apply_overrides(config, tier=None, epochs=None, runs=None, quick=False):
    """The effective config of a run: a budget tier ("quick" or "budget") and
    the CLI overrides applied. The tier's data subset sizes stay in its section
    (the caller cuts the data); ``quick=True`` is ``tier="quick"``."""
    config = copy.deepcopy(config)
    tier = "quick" if quick else tier
    if tier is not None:
        if tier not in TIERS:
            raise ValueError(f"Invalid value for argument `tier`: expected one of {TIERS}, received {tier!r}.")
        if tier not in config:
            raise ConfigError(f"the config defines no {tier!r} budget.")
        budget = config[tier]
        config["epochs"] = budget["epochs"]
        config["runs"] = budget["runs"]
        config["batch_size"] = budget.get("batch_size", config["batch_size"])
        config["learning_rate"] = budget.get("learning_rate", config["learning_rate"])
        if "gamma" in budget:
            config["tail_dropout"]["gamma"] = budget["gamma"]
        for key in ("depth", "width"):
            if key in budget:
                config[key] = budget[key]
    config["tier"] = tier or "full"
    if epochs is not None:
        config["epochs"] = int(epochs)
    if runs is not None:
        config["runs"] = int(runs)
    return config


# Keys that do not change what any single run computes: the number of seeds,
# the unused budget sections, prose and the paper's reference numbers.
_NOT_DETERMINING = ("runs", "quick", "budget", "notes", "title", "tier")


def config_hash(config, data_identity=None):
    """Short stable hash of everything that determines a run's result: the
    effective config (less the keys of ``_NOT_DETERMINING``) and the data's
    identity (`ImageDataset.identity`)."""
    determining = {k: v for k, v in config.items() if k not in _NOT_DETERMINING}
    payload = {"config": determining, "data": data_identity}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
