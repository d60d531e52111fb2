"""The docs' tables are what `python docs/build.py` renders from the committed
results and benchmark files, and every relative link of the docs resolves."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_generated_tables_match_the_committed_results():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "docs", "build.py"), "--check"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_relative_link_resolves():
    pages = [os.path.join(ROOT, "README.md")]
    for folder, _, files in os.walk(os.path.join(ROOT, "docs")):
        pages += [os.path.join(folder, name) for name in files if name.endswith(".md")]
    broken = []
    for page in pages:
        with open(page, encoding="utf-8") as f:
            for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", f.read()):
                if "://" not in target and not os.path.exists(os.path.join(os.path.dirname(page), target)):
                    broken.append((os.path.relpath(page, ROOT), target))
    assert not broken, broken


def test_the_readme_is_a_front_page():
    assert os.path.getsize(os.path.join(ROOT, "README.md")) < 10_000
