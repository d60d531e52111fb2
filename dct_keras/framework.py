"""Everything dct_keras needs of its frameworks beyond their public API, in
one module, with the versions it was checked against (Keras 3.15.1,
keras-tuner 1.4.7 and 1.4.8, TensorFlow 2.21):

* importing Keras (and TensorFlow when it is the backend) without its
  start-up noise (TensorFlow's C++ layer prints device and CPU-feature lines to
  file descriptor 2 before any logging setting applies);
* the JAX trainer's state sync for callbacks that touch weights mid-epoch;
* `is_functional` (Keras's `Functional` class is not exported),
  `child_layers` (Keras's layer tracking has no public accessor),
  `optimizer_slots` (Keras's slot-variable naming),
  `update_moving_statistics` (no public call updates BatchNormalization's
  statistics without normalizing);
* keras-tuner: `SeededExecutions` (overrides `Tuner._build_and_fit_model`,
  the hook keras-tuner keeps for AutoKeras) and `rebuild_grid_order` (the
  grid oracle's bookkeeping, keras-team/keras-tuner#1055).
"""

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


def update_moving_statistics(norm, mean, variance):
    """Moves a `BatchNormalization` layer's moving mean and variance towards
    a batch's ``mean`` / ``variance`` as its own training call does (Keras has
    no public call that updates them without normalizing)."""
    norm.moving_mean.assign(norm.moving_mean * norm.momentum + mean * (1.0 - norm.momentum))
    norm.moving_variance.assign(norm.moving_variance * norm.momentum + variance * (1.0 - norm.momentum))


def is_functional(model):
    """Whether ``model`` is a functional `keras.Model` (built from an Input graph)."""
    from keras.src.models.functional import Functional

    return isinstance(model, Functional)


def child_layers(layer):
    """The direct sublayers a layer tracks (in attributes, lists, dicts)."""
    return list(layer._flatten_layers(include_self=False, recursive=False))


def optimizer_slots(optimizer, variable):
    """The per-entry state a built Keras optimizer keeps for ``variable``
    (momentum, velocity, ...): Keras names it ``<variable path with '_'>_<slot>``."""
    prefix = variable.path.replace("/", "_") + "_"
    return [v for v in optimizer.variables if tuple(v.shape) == tuple(variable.shape) and v.name.startswith(prefix)]


class SeededExecutions:
    """keras-tuner `Tuner` mixin: execution ``i`` of a trial builds and trains
    with seed ``i`` (a fixed ``seed`` hyperparameter in a copy of the trial's
    hyperparameters). Everything else is the tuner's own `run_trial`:
    TensorBoard folders per execution, its callbacks, the best-epoch
    checkpoint, Hyperband's epoch budget."""

    def run_trial(self, trial, *args, **kwargs):
        self.execution_seeds = iter(range(self.executions_per_trial))
        return super().run_trial(trial, *args, **kwargs)

    def _build_and_fit_model(self, trial, *args, **kwargs):
        hyperparameters = trial.hyperparameters
        seeded = hyperparameters.copy()
        seeded.Fixed("seed", next(self.execution_seeds))
        trial.hyperparameters = seeded
        try:
            return super()._build_and_fit_model(trial, *args, **kwargs)
        finally:
            trial.hyperparameters = hyperparameters


def rebuild_grid_order(oracle):
    """Rebuilds a reloaded `GridSearchOracle`'s bookkeeping, which keras-tuner
    does not save (the trials in grid order and the queue of trials whose
    successor is still to be made): every trial, in grid order, gets its
    successor looked up again."""
    import functools

    order = functools.cmp_to_key(lambda a, b: oracle._compare(a.hyperparameters.values, b.hyperparameters.values))
    trials = sorted(oracle.trials.values(), key=order)
    oracle._ordered_ids = type(oracle._ordered_ids)()
    for trial in trials:
        oracle._ordered_ids.insert(trial.trial_id)
    oracle._populate_next = [trial.trial_id for trial in trials]
