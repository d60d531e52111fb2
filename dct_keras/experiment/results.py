"""Crash-safe results files: one JSON object per line.

Every experiment of the package appends its finished runs to a
``results.jsonl`` through `append_row` and reads them back with `read_rows`.

* Writing is atomic: under an exclusive lock on the folder (several tuner
  workers may share it) the valid rows and the new one are written to a
  temporary file, fsync'ed and renamed over the old file. A kill at any point leaves
  either the old file or the new one, never a half row.
* Reading is tolerant: a line that does not parse (a file written by another
  tool, cut by a full disk or edited by hand) is skipped with a warning naming
  the file and the line, and the run it belonged to is simply not finished, so
  a rerun recomputes it.

This module is pure Python (no Keras import), so command-line tools can use it
before they load TensorFlow.
"""

import contextlib
import json
import os
import sys
import warnings

from dct_keras.files import write_atomically

RESULTS_FILE = "results.jsonl"
LEARNING_CHECK_FILE = "learning_check.json"  # a quick tier's sign of life (runner.learning_check)


def learns(check):
    """A learning check's verdict (`runner.learning_check`): the loss closed
    at least half the gap between its first value and the floor, the loss
    of a perfect prediction (checks written before it was recorded: 0)."""
    floor = check.get("loss_floor", 0.0)
    return check["loss_last"] - floor < 0.5 * (check["loss_first"] - floor)


_WARNED = set()  # (file, line number, line) already reported by `read_rows`


class ResultsFileWarning(UserWarning):
    """A results file holds a line that is not a complete JSON row."""


def read_rows(path, warn=True):
    """The rows of a results file (a missing file has none).

    Lines that are not a JSON object are skipped; with ``warn`` each one gives a
    `ResultsFileWarning` naming ``path`` and the line number, once per process
    (a command reads a file several times).
    """
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            if not isinstance(row, dict):
                if warn and (os.path.abspath(path), number, line) not in _WARNED:
                    _WARNED.add((os.path.abspath(path), number, line))
                    warnings.warn(
                        f"{path}, line {number}: not a complete JSON row (truncated by a crash?); skipped. "
                        "The run it belonged to counts as unfinished and a rerun recomputes it.",
                        ResultsFileWarning, stacklevel=2,
                    )
                continue
            rows.append(row)
    return rows


def append_row(path, row):
    """Appends ``row`` (a JSON-serializable dict) to ``path`` atomically.

    Under an exclusive lock on the results folder, the file is rewritten as
    its valid rows plus ``row`` (`files.write_atomically`).
    """
    line = json.dumps(row, sort_keys=True)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with _locked(folder):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResultsFileWarning)
            lines = [json.dumps(r, sort_keys=True) for r in read_rows(path)]
        write_atomically(path, "".join(existing + "\n" for existing in lines + [line]))


@contextlib.contextmanager
def _locked(folder):
    """An exclusive lock on ``folder`` itself (no lock file is left behind)."""
    if sys.platform == "win32":  # no fcntl; a single writer is assumed
        yield
        return
    import fcntl

    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock
