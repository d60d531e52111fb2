"""Reading files from elsewhere safely: one-line reasons for unreadable ones
(pure Python and NumPy; no framework import)."""

import zipfile


def describe_npz_error(error):
    """A short reason for a failed `np.load` without NumPy's advice to enable
    pickle loading (never safe on a file from elsewhere)."""
    if isinstance(error, EOFError) or (isinstance(error, OSError) and "empty" in str(error).lower()):
        return "the file is empty"
    if isinstance(error, zipfile.BadZipFile):
        return "not a valid zip archive, possibly truncated"
    if "allow_pickle" in str(error) or "pickle" in str(error).lower():
        return "it holds pickled Python objects, which are never loaded"
    return str(error).split("\n")[0]
