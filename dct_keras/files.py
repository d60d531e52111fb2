"""Files: reading them from elsewhere safely (one-line reasons for
unreadable ones) and replacing them atomically (pure Python; no framework
import)."""

import contextlib
import os
import zipfile


@contextlib.contextmanager
def replaced_atomically(path):
    """Yields a temporary path beside ``path`` (same extension, so Keras can
    save a model there); once the block has written it, the file is
    fsync'ed and renamed over ``path``, and the folder fsync'ed: a reader
    (or a crash) sees the old file or the whole new one. The temporary is
    removed if the block raises."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    root, extension = os.path.splitext(path)
    temporary = f"{root}.{os.getpid()}.tmp{extension}"
    try:
        yield temporary
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
        fsync_folder(folder)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_atomically(path, data):
    """Writes ``data`` (bytes, or text as UTF-8) to ``path`` atomically (`replaced_atomically`)."""
    with replaced_atomically(path) as temporary:
        with open(temporary, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def fsync_folder(folder):
    """Makes a rename inside ``folder`` durable (where the platform allows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


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
