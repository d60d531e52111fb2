"""Renders Table V of dct_conv.txt from results files, beside the paper's numbers.

    python reproductions/report.py RESULTS [RESULTS ...] [--out DIR]

RESULTS are folders holding ``results.jsonl`` or the files themselves. Writes
``table_v.md`` (mean ± std over runs, n and seeds, epochs trained, ratio to the
plain CNN, the paper's value and ratio; one table per problem, experiment
identity, block and switch-off policy, so different configs, budgets or data
are never averaged together) and ``table_v.png`` into ``--out`` (default: the
first RESULTS folder), and prints the table.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import cli  # noqa: E402


def main(argv=None):
    parser = cli.Parser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="results folders or .jsonl files")
    parser.add_argument("--out", help="output folder (default: the first results folder)")
    args = parser.parse_args(argv)
    paths = []
    for path in args.results:
        if not os.path.exists(path):
            raise cli.UsageError(f"results path {path!r} does not exist; pass a folder holding results.jsonl (the --out "
                                 "of a reproduction or sweep) or the file itself")
        file = os.path.join(path, "results.jsonl") if os.path.isdir(path) else path
        if not os.path.isfile(file):
            raise cli.UsageError(f"{path!r} holds no results.jsonl: nothing has finished there yet (a run writes its row "
                                 "when it completes), or it is not a results folder")
        paths.append(file)
    from dct_keras.experiment import report

    rows = report.read_results(paths)
    if not rows:
        raise cli.RunError(f"no complete result rows in {', '.join(paths)}: no run has finished there yet")
    out = args.out or os.path.dirname(paths[0])
    os.makedirs(out, exist_ok=True)
    tables = report.summarize(rows, report.paper_configs())
    markdown = report.render_markdown(tables)
    with open(os.path.join(out, "table_v.md"), "w") as f:
        f.write(markdown)
    report.render_plot(tables, os.path.join(out, "table_v.png"))
    print(markdown)
    print(f"wrote {os.path.join(out, 'table_v.md')} and {os.path.join(out, 'table_v.png')}")


if __name__ == "__main__":
    cli.run_main(main)
