"""Regenerates the tables of the docs from the committed results and benchmark files.

    python docs/build.py           # rewrite every generated block of docs/**/*.md
    python docs/build.py --check   # exit 1, naming the files, when a block differs

A block is the text between ``<!-- generated: SOURCE -->`` and
``<!-- end generated -->``. SOURCE is ``results/reference/<folder>`` (the
folder's report, `dct-keras report`, its headings moved two levels down) or
``benchmarks`` (``python benchmarks/run.py --table``). Everything else in the
docs is prose; numbers in it are quoted from these tables.
"""

import argparse
import glob
import importlib.util
import json
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ["DCT_KERAS_DEFER_IMPORTS"] = "1"  # the report needs no framework
BLOCK = re.compile(r"(<!-- generated: (?P<source>[^ ]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.DOTALL)


def render(source):
    """The markdown a block's SOURCE stands for."""
    if source == "benchmarks":
        spec = importlib.util.spec_from_file_location("benchmarks_run", os.path.join(ROOT, "benchmarks", "run.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with open(os.path.join(ROOT, "benchmarks", "results.json")) as f:
            return module.markdown_table(json.load(f)).rstrip("\n") + "\n"
    from dct_keras.experiment.report import render_folder

    with tempfile.TemporaryDirectory() as folder:
        markdown, _ = render_folder(os.path.join(ROOT, source), out_dir=folder)
    return re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", markdown, flags=re.MULTILINE).rstrip("\n") + "\n"


def build(check=False):
    """Rewrites (or, with ``check``, compares) every generated block; returns the files that differ."""
    differing = []
    for path in sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        new = BLOCK.sub(lambda m: m.group(1) + render(m.group("source")) + m.group(4), text)
        if new != text:
            differing.append(os.path.relpath(path, ROOT))
            if not check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
    return differing


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a generated block differs")
    args = parser.parse_args(argv)
    differing = build(check=args.check)
    if args.check and differing:
        print(f"error: generated tables differ from the committed results in {', '.join(differing)}; "
              "run `python docs/build.py`", file=sys.stderr)
        sys.exit(1)
    print(("differ: " if args.check else "rewrote: ") + (", ".join(differing) or "nothing"))


if __name__ == "__main__":
    main()
