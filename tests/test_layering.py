"""No import runs up the layers of the package:
files / entropy / architectures / spectral / decode -> layers -> surgery -> accounting / models -> callbacks / regularizers /
compression / export -> experiment (-> the command line, `__main__`)."""

import ast
import os

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "dct_keras")
RANKS = {
    "files": 0, "spectral": 0, "decode": 0, "framework": 0, "entropy": 0, "architectures": 0,
    "layers": 1,
    "surgery": 2,
    "accounting": 3, "models": 3,
    "callbacks": 4, "regularizers": 4, "compression": 4, "export": 4,
    "experiment": 5,
    "__main__": 6,
}


def _imports():
    """(importing room, imported room, file) for every dct_keras import of the package."""
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            room = os.path.relpath(path, PACKAGE).split(os.sep)[0].removesuffix(".py")
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                modules = []
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules = [node.module]
                elif isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                for module in modules:
                    parts = module.split(".")
                    if parts[0] == "dct_keras" and len(parts) > 1:
                        yield room, parts[1], os.path.relpath(path, PACKAGE)


def test_every_room_has_a_rank():
    rooms = {room for room, _, _ in _imports()} | {target for _, target, _ in _imports()}
    assert rooms - {"__init__"} <= set(RANKS), rooms - set(RANKS)


def test_no_import_runs_up_the_layers():
    upward = [(path, target) for room, target, path in _imports()
              if room in RANKS and target in RANKS and RANKS[target] > RANKS[room]]
    assert not upward, upward
