"""Running the papers' experiments: configs, schedules, the resumable protocol."""

from dct_keras.experiment.config import apply_overrides, config_hash, load_config, validate_config
from dct_keras.experiment.errors import ConfigError
from dct_keras.experiment.schedules import learning_rate_fn

__all__ = ["ConfigError", "apply_overrides", "config_hash", "learning_rate_fn", "load_config", "validate_config"]
