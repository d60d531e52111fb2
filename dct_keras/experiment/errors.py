"""The errors the experiment layer answers users with (pure Python)."""


class ConfigError(ValueError):
    """A config is malformed; the message names the offending key."""


class UsageError(Exception):
    """A command-line argument is invalid (exit code 2)."""


class RunError(Exception):
    """The run cannot go on (bad data, unreadable results; exit code 1)."""
