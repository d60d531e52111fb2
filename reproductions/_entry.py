"""What every script here does: run one `dct-keras` command with the script's
arguments appended (the package is found beside this folder when it is not
installed; it loads Keras only after the arguments are checked)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ["DCT_KERAS_DEFER_IMPORTS"] = "1"


def main(*command):
    from dct_keras.experiment.commands import main as dct_keras_main

    dct_keras_main([*command, *sys.argv[1:]])
