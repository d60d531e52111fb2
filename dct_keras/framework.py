"""What dct_keras needs of the framework beyond its everyday API, in one
place: importing Keras (and TensorFlow when it is the backend) without its
start-up noise (TensorFlow's C++ layer prints device and CPU-feature lines to
file descriptor 2 before any logging setting applies), and the JAX trainer's
state sync for callbacks that touch weights mid-epoch (Keras 3.15)."""

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def stderr_captured():
    """Redirects file descriptor 2 to a temporary file, yielded (C++ log lines
    that `TF_CPP_MIN_LOG_LEVEL` cannot reach are printed before logging starts)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield capture
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def import_keras():
    """Imports and returns `keras`, its backend initialized, with the start-up
    lines swallowed; when the import fails they are shown with the error."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with stderr_captured() as capture:
        try:
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                tf.get_logger().setLevel("ERROR")
                tf.constant(0)  # device initialization logs now, not later
        except BaseException:
            capture.seek(0)
            if hasattr(sys.stderr, "buffer"):
                sys.stderr.buffer.write(capture.read())
            raise
    return keras


def sync_training_state(model):
    """Makes ``model``'s variables hold the values of the running `fit`: the
    JAX trainer keeps them in its own state between steps, so a callback
    reading or assigning weights mid-epoch syncs first (after the sync, the
    trainer reloads the state from the variables, assignments included).
    A no-op on the other backends."""
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()
