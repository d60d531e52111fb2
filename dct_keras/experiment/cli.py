"""What every experiment command line shares: argument checking before any
heavy import, one-paragraph errors, Ctrl-C handling and a quiet TensorFlow.

This module imports neither Keras nor TensorFlow: a script parses and checks
its arguments (and reads its config) with it, then loads the framework with
`import_framework` and runs. Exit codes: 2 for a usage error (an argument out
of its domain, a missing file or folder named on the command line, a selection
that leaves nothing to run), 1 for a data or results error found while
running, 130 after Ctrl-C.
"""

import argparse  # noqa: F401 - re-exported for the scripts (cli.argparse)
import contextlib
import math
import os
import signal
import sys
import tempfile
import textwrap
import threading
import warnings

from dct_keras.experiment.config import TIERS, ConfigError, apply_overrides, load_config


class UsageError(Exception):
    """A command-line argument is invalid (exit code 2)."""


class RunError(Exception):
    """The run cannot go on (bad data, unreadable results; exit code 1)."""


class Parser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors are one paragraph (exit 2)."""

    def error(self, message):
        fail(f"{message}. Run `{self.prog} --help` for the options.", 2)


def fail(message, code):
    """Prints ``error: message`` as one wrapped paragraph and exits."""
    lines = f"error: {message}".splitlines()  # a paragraph, then any list the message ends with, line by line
    text = "\n".join([textwrap.fill(lines[0], width=100, break_long_words=False, break_on_hyphens=False)] + lines[1:])
    print(text, file=sys.stderr)
    sys.exit(code)


def run_main(main, argv=None):
    """Runs ``main(argv)`` turning known errors into one paragraph each.

    `UsageError` exits 2; `RunError` and the library's data / config / results
    errors exit 1; Ctrl-C prints how to resume and exits 130.
    """
    from dct_keras.data import DataShapeError, DatasetUnavailableError

    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"
    interrupted = []

    def on_interrupt(signum, frame):
        # Recorded first: a KeyboardInterrupt raised inside C code (TensorFlow
        # tracing) can surface as another exception, still a Ctrl-C.
        interrupted.append(signum)
        raise KeyboardInterrupt

    def on_unraisable(unraisable):
        # Python ignores (prints and drops) an exception raised where it cannot
        # propagate, e.g. in a garbage-collection callback: a Ctrl-C landing
        # there would be lost and training go on. Deliver it again, from a
        # thread, so that it lands in the main thread's normal code.
        if interrupted and issubclass(unraisable.exc_type, KeyboardInterrupt):
            threading.Timer(0.05, signal.raise_signal, [signal.SIGINT]).start()
            return
        previous_hook(unraisable)

    previous, previous_hook = signal.signal(signal.SIGINT, on_interrupt), sys.unraisablehook
    sys.unraisablehook = on_unraisable
    try:
        return main(argv)
    except KeyboardInterrupt:
        _exit_interrupted()
    except UsageError as error:
        fail(str(error), 2)
    except (RunError, ConfigError, DatasetUnavailableError, DataShapeError) as error:
        fail(str(error), 1)
    except Exception:
        if interrupted:
            _exit_interrupted()
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook


def _exit_interrupted():
    print("\ninterrupted; rerun the same command to resume", file=sys.stderr)
    sys.exit(130)


# Argument types: each names the domain in its error message.
def probability(text):
    return _number(text, float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")


def _number(text, convert, valid, domain):
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise argparse.ArgumentTypeError(f"expected {domain}, got {text!r}")
    return value


def positive_int(text):
    return _number(text, int, lambda v: v >= 1, "an integer >= 1")


def positive_float(text):
    return _number(text, float, lambda v: 0 < v < math.inf, "a finite number > 0")


def existing_path(text):
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text!r} does not exist")
    return text


def base_parser(description, default_config=None):
    """The options every experiment shares (``default_config``: a path)."""
    parser = Parser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=existing_path, default=default_config, help="config file (default: %(default)s)")
    tier = parser.add_mutually_exclusive_group()
    tier.add_argument("--quick", action="store_true", help="the config's smallest CPU budget (a data subset, 1-2 epochs): a smoke run")
    tier.add_argument("--budget", action="store_true", help="the config's CPU-scale evidence budget (hours on 2 cores); never the paper's protocol")
    parser.add_argument("--data", type=existing_path, help="local data: an official CIFAR archive or its folder, or an .npz (never touches the network)")
    parser.add_argument("--runs", type=positive_int, help="runs per setting, distinct seeds 0..N-1")
    parser.add_argument("--out", default=None, help="results folder (default: results/<config>[-quick|-budget])")
    parser.add_argument("--epochs", type=positive_int, help="override the epoch budget")
    parser.add_argument("--session-epochs", type=positive_int, help="stop after this many epochs in this invocation (rerun to resume)")
    parser.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard event files (loss, metrics, learning rate, kept fractions) under DIR")
    return parser


def tier_of(args):
    return "quick" if args.quick else "budget" if getattr(args, "budget", False) else None


def load_effective_config(args, root):
    """The config as written and the effective one (tier and overrides
    applied); fills in the default ``args.out``. Raises `UsageError`."""
    try:
        full = load_config(args.config)
        validate_tier(full, args)
        config = apply_overrides(full, tier=tier_of(args), epochs=args.epochs, runs=args.runs)
    except ConfigError as error:
        raise UsageError(f"--config {args.config}: {error}") from None
    if args.out is None:
        name = os.path.splitext(os.path.basename(args.config))[0]
        tier = tier_of(args)
        args.out = os.path.join(root, "results", name + (f"-{tier}" if tier else ""))
    return full, config


def select_p(requested, grid, argument="--p", extra=("plain",)):
    """The requested switch-off probabilities as grid values, compared as
    numbers; ``extra`` words (the plain model) pass through. Raises
    `UsageError` naming the bad value and the valid choices."""
    if requested is None:
        return None
    aliases = {"cnn": "plain"}
    chosen = []
    for text in requested:
        word = aliases.get(str(text).lower(), str(text).lower())
        if word in extra:
            chosen.append(word)
            continue
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"{argument} {text}: expected a number in [0, 1] or one of {list(extra)}; the grid is "
                             f"{_grid_text(grid)}") from None
        if not 0 <= value <= 1:
            raise UsageError(f"{argument} {text}: a switch-off probability must be in [0, 1]; the grid is {_grid_text(grid)}")
        match = [p for p in grid if math.isclose(p, value, abs_tol=1e-9)]
        if not match:
            raise UsageError(f"{argument} {text}: not in this config's grid {_grid_text(grid)} (or {list(extra)})")
        chosen.append(match[0])
    return chosen


def _grid_text(grid):
    return "[" + ", ".join(f"{p:g}" for p in grid) + "]"


def require_known(selected, known, argument, noun):
    """Raises `UsageError` naming the ``selected`` names (a list or None)
    that ``known`` (the config's section) does not have."""
    unknown = sorted(set(selected or []) - set(known))
    if unknown:
        raise UsageError(f"{argument} {' '.join(unknown)}: not in the config; its {noun} are {sorted(known)}")
    return selected


def require_nonempty(plan, what):
    """Raises `UsageError` when a selection leaves nothing to run."""
    if not plan:
        raise UsageError(f"the selection {what} leaves nothing to run")
    return plan


@contextlib.contextmanager
def _stderr_captured():
    """Redirects file descriptor 2 to a temporary file (C++ log lines that
    `TF_CPP_MIN_LOG_LEVEL` cannot reach are printed before logging starts)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield capture
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def import_framework():
    """Imports Keras (and TensorFlow when it is the backend) without its
    start-up log lines; if the import fails, they are shown."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_captured() as capture:
        try:
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                tf.get_logger().setLevel("ERROR")
                tf.constant(0)  # device initialization logs now, not later
        except BaseException:
            capture.seek(0)
            sys.stderr.buffer.write(capture.read()) if hasattr(sys.stderr, "buffer") else None
            raise
    import dct_keras  # noqa: F401 - the layers register with Keras's serialization

    return keras


def validate_tier(config, args):
    """Raises `UsageError` when ``--quick`` / ``--budget`` is asked of a config
    without that section."""
    tier = tier_of(args)
    if tier and tier not in config:
        raise UsageError(f"--{tier}: {args.config} defines no '{tier}' budget (it has: "
                         f"{[t for t in TIERS if t in config] or 'none'})")
