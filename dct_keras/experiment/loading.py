"""Loading a user's model file with an answer that names it."""

import os

from dct_keras.experiment.errors import RunError


def load_keras_model(path, argument):
    """A ``.keras`` model loaded in Keras's safe mode, or a `RunError` naming
    the argument and the file and saying what it is instead."""
    import zipfile

    import keras

    if os.path.isdir(path):
        raise RunError(f"{argument} {path}: a folder, not a .keras model file.")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            start = f.read(8)
        what = ("a dct_keras shipped file (.dctk): load it with `dct-keras load-check` or dct_keras.load_shipped"
                if start == b"DCTKSHIP" else "not a .keras model (a .keras file is a zip archive; this one is not: "
                "truncated, corrupt or another format)")
        raise RunError(f"{argument} {path}: {what}.")
    try:
        return keras.models.load_model(path)
    except Exception as error:  # noqa: BLE001 - Keras raises many kinds for a bad file
        raise RunError(f"{argument} {path}: not a loadable Keras model ({type(error).__name__}: "
                       f"{str(error).splitlines()[0] if str(error) else ''})") from None
