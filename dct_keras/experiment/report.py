"""Reports of every method from result rows: ``table.md`` and the method's plots.

Rows are grouped before anything is averaged: by experiment (the config they
ran) and by experiment identity (``config_hash``: the effective config,
budget included, and the data's content hash), so runs of different configs,
budgets or data never share a table. Each group is rendered by its method
(`Method.render`) with the experiment's config as shipped (its paper numbers
and full budget; a group's runs below it are flagged), or the ``config``
given. With several groups in one folder, each group's plots go to a
subfolder ``<experiment>-<hash>/``.
"""

import collections
import json
import os

from dct_keras.experiment.config import shipped_config
from dct_keras.experiment.errors import ConfigError
from dct_keras.experiment.protocol import method_class
from dct_keras.experiment.results import LEARNING_CHECK_FILE, RESULTS_FILE, learns, read_rows

TABLE_FILE = "table.md"


def results_file(path):
    """The results file of a folder (or the file itself)."""
    return os.path.join(path, RESULTS_FILE) if os.path.isdir(path) else path


def render_folder(path, config=None, out_dir=None):
    """Renders the rows of ``path`` (a results folder or file) into
    ``out_dir`` (default: the folder): ``table.md`` plus plots. Returns
    ``(markdown, written paths)``; raises `ConfigError` for rows it cannot
    place (no ``method`` / ``experiment``, an experiment without a config)."""
    rows = read_rows(results_file(path))
    out_dir = out_dir or (path if os.path.isdir(path) else os.path.dirname(path))
    os.makedirs(out_dir, exist_ok=True)
    groups = collections.defaultdict(list)
    for row in rows:
        if "method" not in row or "experiment" not in row or "method_fields" not in row:
            raise ConfigError(f"{results_file(path)}: a row without `method` / `experiment` / `method_fields` "
                              "(written by another tool or an old version of dct_keras).")
        groups[(row["experiment"], row.get("config_hash"))].append(row)
    sections, written = [], []
    for (experiment, identity), group in groups.items():
        own = config if config is not None and config.get("experiment") == experiment else shipped_config(experiment)
        if own is None:
            raise ConfigError(f"{results_file(path)}: no config for the experiment {experiment!r}: pass the config "
                              "it ran with (--config).")
        folder = out_dir if len(groups) == 1 else os.path.join(out_dir, f"{experiment}-{identity}")
        os.makedirs(folder, exist_ok=True)
        results_dir = path if os.path.isdir(path) else os.path.dirname(path) or "."
        markdown, plots = method_class(group[0]["method"])(own).render(group, folder, results_dir=results_dir)
        if folder != out_dir and not os.listdir(folder):
            os.rmdir(folder)
        sections.append(markdown)
        written += plots
    text = "\n".join(sections) + _learning_check_line(out_dir)
    table = os.path.join(out_dir, TABLE_FILE)
    with open(table, "w", encoding="utf-8") as f:
        f.write(text)
    return text, [table] + written


def _learning_check_line(folder):
    """The quick tier's learning check (`runner.learning_check`), when the
    folder has one, as a closing line of its table."""
    path = os.path.join(folder, LEARNING_CHECK_FILE)
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as f:
        check = json.load(f)
    floor = check.get("loss_floor", 0.0)
    gap = "" if not floor else f", the loss of a perfect prediction of those images being {floor:.4g}"
    verdict = ("it learns: the rows above are a smoke run's" if learns(check) else
               "it did not close half the gap to the floor: the network does not learn, look for a defect")
    return (f"\nLearning check: {check['setting']} with fresh weights, trained with Adam 1e-3 on {check['examples']} "
            f"training images for {check['steps']} steps: training loss {check['loss_first']:.4g} -> "
            f"{check['loss_last']:.4g}{gap} ({verdict}).\n")
