"""What every sub-command of the command line (`dct_keras.experiment.commands`)
shares: argument types and checks before any heavy import, one-paragraph
errors, Ctrl-C handling and a quiet TensorFlow.

This module imports neither Keras nor TensorFlow: a command parses and checks
its arguments (and reads its config) with it, then loads the framework with
`import_framework` and runs. Exit codes: 2 for a usage error (an argument out
of its domain, a missing file or folder named on the command line, a selection
that leaves nothing to run), 1 for a data or results error found while
running, 130 after Ctrl-C.
"""

import argparse
import math
import os
import signal
import sys
import textwrap
import threading
import warnings

from dct_keras.experiment.errors import ConfigError, RunError, UsageError


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
    from dct_keras.experiment.data import DataShapeError, DatasetUnavailableError

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
    except BrokenPipeError:  # the output was piped into a reader that closed it (`| head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
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


def data_path(text):
    """``--data``: an existing path, or "sample" (the packaged sample)."""
    if text != "sample" and not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text!r} does not exist")
    return text


def require_nonempty(plan, what):
    """Raises `UsageError` when a selection leaves nothing to run."""
    if not plan:
        raise UsageError(f"the selection {what} leaves nothing to run")
    return plan


def import_framework():
    """Imports Keras (and TensorFlow when it is the backend) without its
    start-up log lines; if the import fails, they are shown."""
    from dct_keras.framework import import_keras

    keras = import_keras()
    # The layers and regularizers register with Keras's serialization (the
    # package itself was imported in its deferred mode).
    import dct_keras.layers  # noqa: F401
    import dct_keras.regularizers  # noqa: F401

    return keras
