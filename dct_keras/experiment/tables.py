"""The one table renderer of every experiment: markdown with a title, an
optional budget line, a header, rows of formatted cells and notes. Each method
(`dct_conv`, `freqreg`, `harmonic`, `reorder`, `ctnet`) chooses its columns
and cells; this module lays them out, and gives their plots a headless
matplotlib."""

import os


def markdown_table(header, rows, title=None, level=1, budget=None, notes=()):
    """A markdown section: ``title`` (a heading of ``level``), ``budget``
    ("Ours: ..." line), the table of ``header`` / ``rows`` (strings), notes."""
    lines = []
    if title:
        lines += ["#" * level + " " + title, ""]
    if budget:
        lines += [f"Ours: {budget}.", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    if notes:
        lines += [""] + list(notes)
    return "\n".join(lines) + "\n"


def plural(count, noun):
    """``"1 epoch"``, ``"3 epochs"``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def budget_text(row):
    """What a table's runs were trained on and for (the "Ours: ..." line)."""
    examples = f"{row.get('train_examples', '?')} train / {row.get('test_examples', '?')} test"
    data = os.path.basename(str(row.get("data", "?")).split(" (")[0])
    return (f"{row.get('tier', 'full')} tier: {plural(row['epochs_budget'], 'epoch')}, batch {row.get('batch_size', '?')}, "
            f"{examples} images of {data}, config {row.get('config_hash', '?')}")


def epochs_cell(runs, full_epochs, flag=" ⚠"):
    """The distinct epoch counts of ``runs``, flagged when below the full budget."""
    epochs = ",".join(sorted({str(r["epochs_done"]) for r in runs}))
    return epochs + (flag if any(r["epochs_done"] < full_epochs for r in runs) else "")


SHORT_BUDGET_NOTE = "⚠: fewer epochs than the full protocol (`--quick` / `--budget`): not comparable with the paper."


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
