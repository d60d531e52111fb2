"""The experimental protocol of dct_conv.txt §V-G, resumable run by run.

1. the original CNN is trained;
2. its convolutions are replaced by DCT-Conv layers (p = 0), coefficients
   initialized as the filters were, and trained from the beginning;
3. for every p of the grid: fresh masks, re-initialized coefficients, trained
   from the beginning.

Each (variant, p, seed) is one *run*, repeated with ``runs`` distinct seeds.
A finished run appends one JSON line to ``<out>/results.jsonl``, atomically
(`dct_keras.experiment.results`), keyed by everything that determines it: the
effective config, the data's content hash, the variant, p, switch-off policy
and seed. A rerun with other data or another budget never reuses it. A run in
progress saves its model (weights, masks and optimizer state) and its epoch
count to ``<out>/checkpoints/<run>/`` after every epoch; rerunning the same
command resumes it from its last completed epoch and skips finished runs.
Each epoch's data order is a permutation seeded by (seed, epoch), so a resumed
run sees the same batches as an uninterrupted one.
"""

import dataclasses
import json
import os
import shutil
import time

import keras
import numpy as np

import dct_keras
from dct_keras.data import channel_statistics, normalize, to_unit_range
from dct_keras.experiment.config import config_hash
from dct_keras.experiment.plans import RunSpec, plan_runs  # noqa: F401 - re-exported for callers
from dct_keras.experiment.results import RESULTS_FILE, append_row, read_rows
from dct_keras.experiment.schedules import learning_rate_fn
from dct_keras.models import BUILDERS, INPUT_REQUIREMENTS


@dataclasses.dataclass
class PreparedData:
    """Model-ready arrays: normalized inputs and targets of both splits."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str
    identity: dict = None


def prepare_data(config, dataset, model_name=None):
    """Classifiers: eq. (4) per-channel normalization with training statistics,
    integer labels. Autoencoders: the targets (and the MSE) are pixels in
    [0, 1]; the inputs are eq. (4)-normalized (dct_conv.txt §V-A, config
    ``input_normalization: "eq4"``, the default) or the same [0, 1] pixels
    (``"unit"``).

    Images the network (``model_name``, default the config's) cannot use are
    rejected first (`DataShapeError`).
    """
    model_name = model_name or config.get("model")
    if model_name in INPUT_REQUIREMENTS:
        dataset.check_images(*INPUT_REQUIREMENTS[model_name], model=model_name)
    else:
        dataset.check_images()
    identity = dataset.identity()
    mean, std = channel_statistics(dataset.x_train)
    if config["task"] == "classification":
        return PreparedData(
            normalize(dataset.x_train, mean, std), dataset.y_train,
            normalize(dataset.x_test, mean, std), dataset.y_test, dataset.num_classes, dataset.source, identity,
        )
    y_train, y_test = to_unit_range(dataset.x_train), to_unit_range(dataset.x_test)
    if config.get("input_normalization", "eq4") == "eq4":
        x_train, x_test = normalize(dataset.x_train, mean, std), normalize(dataset.x_test, mean, std)
    else:
        x_train, x_test = y_train, y_test
    return PreparedData(x_train, y_train, x_test, y_test, dataset.num_classes, dataset.source, identity)


def build_model(config, spec, input_shape, num_classes=None):
    """The problem's model in the run's variant, compiled with its regime."""
    builder = BUILDERS[config["model"]]
    kwargs = {"input_shape": tuple(input_shape), "seed": spec.seed}
    if config["task"] == "classification":
        kwargs["num_classes"] = num_classes
    if config["l2"]:
        kwargs["l2"] = config["l2"]
    if spec.variant in ("dct", "dct_spatial"):
        kwargs.update(switch_off=spec.p or 0.0, switch_off_policy=spec.switch_off_policy)
    keras.utils.set_random_seed(spec.seed)
    model = builder(spec.variant, **kwargs)
    model.compile(
        optimizer=make_optimizer(config),
        loss=config["loss"],
        metrics=["accuracy"] if config["task"] == "classification" else ["mse"],
    )
    return model


def make_optimizer(config):
    spec = config["optimizer"]
    rate = learning_rate_fn(config["learning_rate"])(0)
    if spec["name"] == "sgd":
        return keras.optimizers.SGD(rate, momentum=spec.get("momentum", 0.0), nesterov=spec.get("nesterov", False))
    if spec["name"] == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=spec["weight_decay"], beta_1=spec.get("beta_1", 0.9),
                                      beta_2=spec.get("beta_2", 0.999))
    return keras.optimizers.Adam(rate, beta_1=spec.get("beta_1", 0.9), beta_2=spec.get("beta_2", 0.999))


def epoch_data(x, y, batch_size, seed, epoch, augment=False):
    """One epoch's batches in the order fixed by (seed, epoch).

    A prefetched `tf.data` pipeline when TensorFlow is installed (optionally
    with random-crop + flip augmentation); plain permuted arrays otherwise (e.g.
    a JAX-only GPU machine), which `fit` batches itself.
    """
    order = np.random.default_rng([seed, epoch]).permutation(len(x))
    try:
        import tensorflow as tf
    except ImportError:
        if augment:
            raise RuntimeError("Augmentation needs TensorFlow (tf.data).") from None
        return x[order], y[order]
    dataset = tf.data.Dataset.from_tensor_slices((x[order], y[order]))
    if augment:
        augment_fn = _augment_fn(tf, seed, epoch, x.shape[1:])
        dataset = dataset.enumerate().map(augment_fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _augment_fn(tf, seed, epoch, shape):
    """Pad-4 random crop and horizontal flip, keyed by (seed, epoch, position)."""
    height, width = shape[0], shape[1]

    def augment(position, example):
        image, label = example
        key = tf.stack([tf.constant(seed * 100_003 + epoch, tf.int64), position])
        padded = tf.image.pad_to_bounding_box(image, 4, 4, height + 8, width + 8)
        image = tf.image.stateless_random_crop(padded, shape, seed=key)
        return tf.image.stateless_random_flip_left_right(image, seed=key), label

    return augment


class Runner:
    """Runs planned `RunSpec`s of one problem, resuming and skipping as needed.

    Args:
        config: the effective config (after `apply_overrides`).
        data: `PreparedData`.
        out_dir: results folder (``results.jsonl``, ``checkpoints/``).
        strategy: optional `tf.distribute` strategy to build and train under.
        session_epochs: train at most this many epochs in this invocation, then
            stop with the checkpoint saved (for time-limited jobs).
        verbose: Keras `fit` verbosity.
        log: function printing progress lines.
        model_fn: ``model_fn(config, spec, data)`` returning a compiled model
            (default: `build_model` with the data's shapes, the DCT-Conv
            problems).
        callbacks_fn: ``callbacks_fn(spec)`` returning extra `fit` callbacks
            (e.g. `TailDropout`); their state must live in the model.
        row_fn: ``row_fn(model, spec)`` returning extra fields for the result row.
        tensorboard_dir: optional folder; each run writes TensorBoard event
            files (loss, metrics, learning rate and whatever mask callbacks
            log, e.g. kept fractions) to ``<tensorboard_dir>/<run key>``.
    """

    def __init__(self, config, data, out_dir, strategy=None, session_epochs=None, verbose="auto", log=print,
                 model_fn=None, callbacks_fn=None, row_fn=None, tensorboard_dir=None):
        self.model_fn = model_fn or _build_for_data
        self.callbacks_fn = callbacks_fn or (lambda spec: [])
        self.row_fn = row_fn or (lambda model, spec: {})
        self.config = config
        self.data = data
        self.out_dir = out_dir
        self.strategy = strategy
        self.session_epochs = session_epochs
        self.verbose = verbose
        self.log = log
        self.tensorboard_dir = tensorboard_dir
        self.hash = config_hash(config, data.identity)
        os.makedirs(out_dir, exist_ok=True)
        self.results_path = os.path.join(out_dir, RESULTS_FILE)

    def finished_rows(self):
        """Run key -> result row, of the runs already in the results file for
        this config and data (a truncated line is skipped with a warning)."""
        return {row["run"]: row for row in read_rows(self.results_path)
                if row.get("config_hash") == self.hash and "run" in row}

    def finished_keys(self):
        """Keys of the runs already in the results file for this config."""
        return set(self.finished_rows())

    def run_all(self, plan):
        """Runs every planned run not yet finished; returns the new result rows."""
        done = self.finished_keys()
        rows = []
        for index, spec in enumerate(plan, start=1):
            if spec.key in done:
                self.log(f"[{index}/{len(plan)}] {spec.key}: finished earlier, skipped")
                shutil.rmtree(os.path.join(self.out_dir, "checkpoints", f"{spec.key}-{self.hash}"), ignore_errors=True)
                continue
            self.log(f"[{index}/{len(plan)}] {spec.key}: training")
            row = self.run(spec)
            if row is None:
                self.log(f"[{index}/{len(plan)}] {spec.key}: stopped after the session's epoch budget; rerun to resume")
                return rows
            rows.append(row)
            done.add(spec.key)
        return rows

    def run(self, spec, model=None, callbacks=(), start_epoch=0):
        """Trains (or resumes) one run; returns its result row, or None if it
        stopped early because of ``session_epochs``.

        Args:
            spec: the `RunSpec`.
            model: a compiled model to train (default: ``model_fn``'s); a
                checkpoint of this run, when present, replaces it.
            callbacks: more `fit` callbacks (after ``callbacks_fn``'s).
            start_epoch: the epoch a fresh ``model`` has already reached (e.g.
                a Hyperband trial continuing another one's weights).
        """
        checkpoint_dir = os.path.join(self.out_dir, "checkpoints", f"{spec.key}-{self.hash}")
        state = {"epochs_done": start_epoch, "wall_time_s": 0.0, "history": []}
        saved = _load_checkpoint_state(checkpoint_dir)
        if saved is not None:
            state = saved
            model = self._in_scope(lambda: keras.models.load_model(os.path.join(checkpoint_dir, state["model_file"])))
            self.log(f"    resuming from epoch {state['epochs_done']}")
        elif model is None:
            model = self._in_scope(lambda: self.model_fn(self.config, spec, self.data))
        learning_rate = learning_rate_fn(self.config["learning_rate"])
        epochs = self.config["epochs"]
        callbacks = self.callbacks_fn(spec) + list(callbacks) + self._logging_callbacks(spec)
        trained_now = 0
        while state["epochs_done"] < epochs:
            if self.session_epochs is not None and trained_now >= self.session_epochs:
                return None
            epoch = state["epochs_done"]
            model.optimizer.learning_rate.assign(learning_rate(epoch))
            batches = epoch_data(self.data.x_train, self.data.y_train, self.config["batch_size"], spec.seed, epoch, self.config["augment"])
            fit_args = (batches,) if not isinstance(batches, tuple) else batches
            start = time.perf_counter()
            history = model.fit(
                *fit_args, batch_size=None if len(fit_args) == 1 else self.config["batch_size"],
                epochs=epoch + 1, initial_epoch=epoch, shuffle=False, verbose=self.verbose, callbacks=callbacks,
            )
            state["wall_time_s"] += time.perf_counter() - start
            state["epochs_done"] = epoch + 1
            state["history"].append({k: float(v[-1]) for k, v in history.history.items()})
            trained_now += 1
            _save_checkpoint(model, state, checkpoint_dir)
        row = self._result_row(spec, model, state)
        append_row(self.results_path, row)
        self.final_model = model
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        self.log(f"    {row['metric_name']} = {row['metric']:.5f} ({row['epochs_done']} epochs, {row['wall_time_s']:.1f} s)")
        return row

    def _logging_callbacks(self, spec):
        """The learning rate in the epoch logs, then TensorBoard (after every
        callback that adds to the logs)."""
        if self.tensorboard_dir is None:
            return []
        return [LearningRateLogger(), keras.callbacks.TensorBoard(os.path.join(self.tensorboard_dir, f"{spec.key}-{self.hash}"))]

    def _in_scope(self, fn):
        if self.strategy is None:
            return fn()
        with self.strategy.scope():
            return fn()

    def _result_row(self, spec, model, state):
        scores = model.evaluate(self.data.x_test, self.data.y_test, batch_size=self.config["batch_size"], verbose=0, return_dict=True)
        metric_name = "accuracy" if self.config["task"] == "classification" else "mse"
        counts = dct_keras.count_params(model)
        return {
            "problem": self.config["problem"],
            "block": spec.block,
            "variant": spec.variant,
            "p": spec.p,
            "switch_off_policy": spec.switch_off_policy,
            "seed": spec.seed,
            "run": spec.key,
            "metric_name": metric_name,
            "metric": float(scores[metric_name]),
            "test_loss": float(scores["loss"]),
            "epochs_done": state["epochs_done"],
            "epochs_budget": self.config["epochs"],
            "tier": self.config.get("tier", "full"),
            "batch_size": self.config["batch_size"],
            "wall_time_s": round(state["wall_time_s"], 2),
            "params_total": counts.total,
            "params_trainable": counts.trainable,
            "params_active": counts.active,
            "train_examples": len(self.data.x_train),
            "test_examples": len(self.data.x_test),
            "data": self.data.source,
            "data_sha256": (self.data.identity or {}).get("sha256"),
            "config_hash": self.hash,
            "backend": keras.backend.backend(),
            # Per-epoch model-level logs (loss, metrics, kept fraction, rate, ...; per-layer keys left out).
            "history": [{k: v for k, v in epoch.items() if "/" not in k} for epoch in state["history"]],
            **self.row_fn(model, spec),
        }


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's learning rate to the epoch logs (for TensorBoard)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def _build_for_data(config, spec, data):
    return build_model(config, spec, data.x_train.shape[1:], data.num_classes)


_STATE_FILE = "state.json"


def _load_checkpoint_state(checkpoint_dir):
    """The state of a run's last complete checkpoint, or None."""
    try:
        with open(os.path.join(checkpoint_dir, _STATE_FILE)) as f:
            state = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    if not os.path.exists(os.path.join(checkpoint_dir, state.get("model_file", ""))):
        return None
    return state


def _save_checkpoint(model, state, checkpoint_dir):
    """Writes ``model-<epoch>.keras``, then the state naming it (atomically:
    write + fsync + rename), then removes older model files. A kill at any
    point leaves a state that names a complete model of the same epoch."""
    os.makedirs(checkpoint_dir, exist_ok=True)
    model_file = f"model-{state['epochs_done']}.keras"
    model.save(os.path.join(checkpoint_dir, model_file + ".tmp.keras"))
    os.replace(os.path.join(checkpoint_dir, model_file + ".tmp.keras"), os.path.join(checkpoint_dir, model_file))
    state["model_file"] = model_file
    state_path = os.path.join(checkpoint_dir, _STATE_FILE)
    with open(state_path + ".tmp", "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(state_path + ".tmp", state_path)
    for name in os.listdir(checkpoint_dir):
        if name.startswith("model-") and name != model_file:
            os.remove(os.path.join(checkpoint_dir, name))
