"""Reading files from elsewhere safely: one-line reasons for unreadable ones
(pure Python and NumPy; no framework import)."""

import zipfile


def describe_npz_error(error, path=None):
    """A short reason for a failed `np.load` of ``path`` without NumPy's
    advice to enable pickle loading (never safe on a file from elsewhere)."""
    if isinstance(error, EOFError) or (isinstance(error, OSError) and "empty" in str(error).lower()):
        return "the file is empty"
    if isinstance(error, zipfile.BadZipFile):
        return "not a valid zip archive, possibly truncated"
    if "allow_pickle" in str(error) or "pickle" in str(error).lower():
        if path is not None and _leading_bytes(path) not in (b"PK", b"\x93N", b"\x80"):
            # NumPy reads anything that is neither a zip nor an .npy file as a pickle
            return "not an .npz archive: it does not start as a zip file does"
        return "it holds pickled Python objects, which are never loaded"
    return str(error).split("\n")[0]


def _leading_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read(2)
    except OSError:
        return None
