"""The one resumable runner of every method's runs.

A `Runner` takes a `Method` (`dct_keras.experiment.protocol`), prepared data
and a results folder. For every planned `RunSpec` it builds the model
(`Method.build`), trains it for the config's epochs under its learning-rate
schedule (one `fit` call per epoch; the data order of epoch ``e`` is a
permutation seeded by ``(seed, e)``, so a resumed run sees the batches of an
uninterrupted one), evaluates it on the test split and appends one result row
to ``<out>/results.jsonl`` (atomically, `dct_keras.experiment.results`).

After every epoch the model (weights, masks, optimizer state) and the run's
state go to ``<out>/checkpoints/<run>-<config hash>/``; rerunning the same
command resumes a run from its last completed epoch and skips finished runs.
A row is keyed by its run and the experiment identity (``config_hash``: the
effective config and the data's content hash), so other data or another
budget never reuses it.

Every row has the same common fields (method, experiment, setting, seed, data
identity, budget, metrics, per-epoch history, parameter counts and shipped
bytes through `dct_keras.accounting`); the method's own fields are under
``method_fields``. The runner knows no method.
"""

import json
import numbers
import os
import shutil
import time

import keras
import numpy as np

from dct_keras import recipes
from dct_keras.accounting import count_params, file_bytes
from dct_keras.experiment.config import config_hash
from dct_keras.files import replaced_atomically, write_atomically
from dct_keras.experiment.results import RESULTS_FILE, append_row, read_rows
from dct_keras.experiment.schedules import learning_rate_fn
from dct_keras.experiment.tables import plural


def make_optimizer(config):
    """The config's optimizer at its first learning rate (the runner sets the
    rate of every epoch)."""
    spec = config["optimizer"]
    rate = learning_rate_fn(config["learning_rate"], config["epochs"])(0)
    clip = {"global_clipnorm": spec["global_clipnorm"]} if spec.get("global_clipnorm") else {}
    if spec["name"] == "sgd":
        return keras.optimizers.SGD(rate, momentum=spec.get("momentum", 0.0), nesterov=spec.get("nesterov", False),
                                    weight_decay=spec.get("weight_decay"), **clip)
    if spec["name"] == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=spec["weight_decay"], beta_1=spec.get("beta_1", 0.9),
                                      beta_2=spec.get("beta_2", 0.999), **clip)
    return keras.optimizers.Adam(rate, beta_1=spec.get("beta_1", 0.9), beta_2=spec.get("beta_2", 0.999), **clip)


def metric_name(config):
    return "accuracy" if config["task"] == "classification" else "mse"


def compile_model(model, config):
    """Compiles ``model`` with the config's optimizer, loss and metric."""
    model.compile(optimizer=make_optimizer(config), loss=config["loss"], metrics=[metric_name(config)])
    return model


def evaluate(model, x, y, batch_size=256):
    """The test metrics of ``model`` as a dict (``loss`` and its metric)."""
    return model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)


def epoch_data(x, y, batch_size, seed, epoch, augment=False, examples=None):
    """One epoch's batches in the order fixed by (seed, epoch): all examples,
    or the first ``examples`` of that order.

    A prefetched `tf.data` pipeline when TensorFlow is installed (optionally
    with random-crop + flip augmentation); plain permuted arrays otherwise (e.g.
    a JAX-only GPU machine), which `fit` batches itself.
    """
    order = np.random.default_rng([seed, epoch]).permutation(len(x))[:examples]
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
    """Runs planned `RunSpec`s of one method, resuming and skipping as needed.

    Args:
        method: the `Method` instance (it holds the effective config).
        data: `PreparedData`.
        out_dir: results folder (``results.jsonl``, ``checkpoints/``).
        strategy: optional `tf.distribute` strategy to build and train under.
        session_epochs: train at most this many epochs in this invocation, then
            stop with the checkpoint saved (for time-limited jobs).
        verbose: Keras `fit` verbosity; 2 (output that is not a terminal)
            prints one plain line per epoch, the model-level logs only
            (`EpochLine`).
        log: function printing progress lines.
        tensorboard_dir: optional folder; each run writes TensorBoard event
            files (loss, metrics, learning rate and whatever mask callbacks
            log, e.g. kept fractions) to ``<tensorboard_dir>/<run key>``.
        row_extra: optional ``row_extra(model)`` returning more common fields
            (e.g. a sweep's held-out test metric).
    """

    def __init__(self, method, data, out_dir, strategy=None, session_epochs=None, verbose="auto", log=print,
                 tensorboard_dir=None, row_extra=None):
        self.method = method
        self.config = method.config
        self.data = data
        self.out_dir = out_dir
        self.strategy = strategy
        self.session_epochs = session_epochs
        self.verbose = verbose
        self.log = log
        self.tensorboard_dir = tensorboard_dir
        self.row_extra = row_extra or (lambda model: {})
        self.hash = config_hash(method.identity(), data.identity)
        os.makedirs(out_dir, exist_ok=True)
        self.results_path = os.path.join(out_dir, RESULTS_FILE)
        self.final_model = None

    def finished_rows(self):
        """Run key -> result row, of the runs already in the results file for
        this config and data (a truncated line is skipped with a warning)."""
        return {row["run"]: row for row in read_rows(self.results_path)
                if row.get("config_hash") == self.hash and "run" in row}

    def run_hash(self, spec):
        """The hash of what determines ``spec`` beyond the config's identity
        (`Method.run_identity`), or None."""
        identity = self.method.run_identity(spec)
        return None if identity is None else config_hash(identity)

    def run_all(self, plan):
        """Runs every planned run not yet finished; returns the new result rows
        (stops early, returning what finished, when ``session_epochs`` runs out)."""
        finished = self.finished_rows()
        done = {spec.key for spec in plan if spec.key in finished
                and finished[spec.key].get("run_hash") == self.run_hash(spec)}
        rows = []
        for index, spec in enumerate(plan, start=1):
            if spec.key in done:
                self.log(f"[{index}/{len(plan)}] {spec.key}: finished earlier, skipped")
                shutil.rmtree(self._checkpoint_dir(spec), ignore_errors=True)
                continue
            self.log(f"[{index}/{len(plan)}] {spec.key}: " + ("evaluating" if spec.epochs == 0 else "training"))
            row = self.run(spec)
            if row is None:
                self.log(f"[{index}/{len(plan)}] {spec.key}: stopped after the session's epoch budget; rerun to resume")
                return rows
            rows.append(row)
            done.add(spec.key)
        return rows

    def run_id(self, spec):
        """The run's name in files: its key, the config's identity and its own."""
        run_hash = self.run_hash(spec)
        return f"{spec.key}-{self.hash}" + (f"-{run_hash}" if run_hash else "")

    def _checkpoint_dir(self, spec):
        return os.path.join(self.out_dir, "checkpoints", self.run_id(spec))

    def run(self, spec, model=None, callbacks=(), start_epoch=0):
        """Trains (or resumes) one run; returns its result row, or None if it
        stopped early because of ``session_epochs``.

        Args:
            spec: the `RunSpec`.
            model: a compiled model to train (default: the method's); a
                checkpoint of this run, when present, replaces it.
            callbacks: more `fit` callbacks (after the method's).
            start_epoch: the epoch a fresh ``model`` has already reached (e.g.
                a Hyperband trial continuing another one's weights).
        """
        checkpoint_dir = self._checkpoint_dir(spec)
        state = _load_checkpoint_state(checkpoint_dir)
        if state is not None:
            model = self._in_scope(lambda: keras.models.load_model(os.path.join(checkpoint_dir, state["model_file"])))
            recipes.record(model, state.get("recipe"))  # a .keras file does not keep it
            self.log(f"    resuming from epoch {state['epochs_done']}")
        else:
            build_s = None
            if model is None:
                start = time.perf_counter()
                model = self._in_scope(lambda: self.method.build(spec, self.data))
                build_s = round(time.perf_counter() - start, 2)
            state = {"epochs_done": start_epoch, "wall_time_s": 0.0, "history": [],
                     "start_fields": self.method.start_fields(spec, model, self.data, build_s=build_s),
                     "recipe": recipes.recipe_of(model)}
        epochs = self.config["epochs"] if spec.epochs is None else spec.epochs
        learning_rate = learning_rate_fn(self.method.learning_rate(spec), epochs)
        callbacks = self.method.callbacks(spec, self.data) + list(callbacks) + self._logging_callbacks(spec)
        trained_now = 0
        while state["epochs_done"] < epochs:
            if self.session_epochs is not None and trained_now >= self.session_epochs:
                return None
            epoch = state["epochs_done"]
            model.optimizer.learning_rate.assign(learning_rate(epoch))
            batches = epoch_data(self.data.x_train, self.data.y_train, self.config["batch_size"], spec.seed, epoch,
                                 self.config["augment"], self._examples(spec))
            fit_args = (batches,) if not isinstance(batches, tuple) else batches
            start = time.perf_counter()
            # One epoch per call (its own data order and learning rate), shown as "Epoch k/N" of the run.
            # The test set as validation data: every epoch's test metric is in the history (val_<metric>).
            history = model.fit(
                *fit_args, batch_size=None if len(fit_args) == 1 else self.config["batch_size"],
                epochs=epochs, initial_epoch=epoch, shuffle=False, verbose=0 if self.verbose == 2 else self.verbose,
                callbacks=callbacks + ([EpochLine(epochs, self.log)] if self.verbose == 2 else []) + [StopAfterEpoch()],
                validation_data=(self.data.x_test, self.data.y_test), validation_batch_size=256,
            )
            state["wall_time_s"] += time.perf_counter() - start
            state["epochs_done"] = epoch + 1
            state["history"].append({k: float(v[-1]) for k, v in history.history.items()})
            trained_now += 1
            _save_checkpoint(model, state, checkpoint_dir)
        row = self._result_row(spec, model, state, epochs)
        append_row(self.results_path, row)
        self.final_model = model
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        self.log(f"    {row['metric_name']} = {row['metric']:.5f} ({plural(row['epochs_done'], 'epoch')}, {row['wall_time_s']:.1f} s)")
        return row

    def _examples(self, spec):
        return spec.examples or self.config.get("epoch_examples")

    def _logging_callbacks(self, spec):
        """The learning rate in the epoch logs, then TensorBoard (after every
        callback that adds to the logs)."""
        if self.tensorboard_dir is None:
            return []
        return [LearningRateLogger(), keras.callbacks.TensorBoard(os.path.join(self.tensorboard_dir, self.run_id(spec)))]

    def _in_scope(self, fn):
        if self.strategy is None:
            return fn()
        with self.strategy.scope():
            return fn()

    def _result_row(self, spec, model, state, epochs):
        name = metric_name(self.config)
        scores = evaluate(model, self.data.x_test, self.data.y_test, self.config["batch_size"])
        run_id = self.run_id(spec)
        own = {**spec.options, **state.get("start_fields", {}),
               **self.method.fields(spec, model, self.data, self.out_dir, run_id)}
        shipped = self.method.shipped(spec, model, self.out_dir, run_id)
        return {
            "method": self.method.name,
            "experiment": self.config["experiment"],
            "setting": spec.setting,
            "seed": spec.seed,
            "run": spec.key,
            "metric_name": name,
            "metric": float(scores[name]),
            "test_loss": float(scores["loss"]),
            "epochs_done": state["epochs_done"],
            "epochs_budget": epochs,
            "tier": self.config.get("tier", "full"),
            "batch_size": self.config["batch_size"],
            "epoch_examples": min(self._examples(spec) or len(self.data.x_train), len(self.data.x_train)),
            "wall_time_s": round(state["wall_time_s"], 2),
            "params": count_params(model).as_dict(),
            "bytes": file_bytes(shipped) if shipped else None,
            "train_examples": len(self.data.x_train),
            "test_examples": len(self.data.x_test),
            "classes": self.data.num_classes,
            "data": self.data.source,
            "data_sha256": (self.data.identity or {}).get("sha256"),
            "config_hash": self.hash,
            **({"run_hash": self.run_hash(spec)} if self.run_hash(spec) else {}),
            "backend": keras.backend.backend(),
            # Per-epoch model-level logs (loss, metrics, kept fraction, rate, ...; per-layer keys left out).
            "history": [{k: v for k, v in epoch.items() if "/" not in k} for epoch in state["history"]],
            "method_fields": own,
            **self.row_extra(model),
        }


def train_cached(method, spec, data, out_dir, log=print, verbose="auto"):
    """``(model, row)``: the final model of one run of ``method``, trained
    (resumably) by a `Runner` in ``<out_dir>/trained/`` and cached there as
    ``<run>-<hash>.keras``, and its result row. For methods that start from a
    trained model (reorder-DCT; the frontier's reorder technique)."""
    trainer = Runner(method, data, os.path.join(out_dir, "trained"), verbose=verbose, log=log)
    cache = os.path.join(out_dir, "trained", f"{spec.key}-{trainer.hash}.keras")
    row = trainer.finished_rows().get(spec.key)
    if row is not None and os.path.exists(cache):
        log(f"trained model: {cache} (cached)")
        return keras.models.load_model(cache), row
    if row is not None:  # finished in an interrupted invocation before its cache was written: train again
        os.remove(trainer.results_path)
    log(f"training {spec.key} of {method.config['experiment']} for {plural(method.config['epochs'], 'epoch')} (resumable)")
    row = trainer.run(spec)
    with replaced_atomically(cache) as temporary:
        trainer.final_model.save(temporary)
    return trainer.final_model, row


def learning_check(method, spec, data, examples=64, steps=40):
    """Whether the pipeline learns at all, for a quick tier whose real
    numbers sit at chance: ``spec``'s network, freshly built by the method
    (seeded by the run's seed, so a rerun gives the same numbers), trained
    with Adam 1e-3 on the first ``examples`` training images (one batch,
    ``steps`` steps, no augmentation). Returns the row ``{"setting",
    "examples", "steps", "loss_first", "loss_last", "loss_floor"}``: the
    training loss at the first and the last step, and the loss of a perfect
    prediction of those targets (0 for a classifier's cross-entropy or an
    MSE; the targets' own entropy for a binary cross-entropy on pixels, which
    no network goes below). A network that can learn memorizes the batch:
    `results.learns` says whether it closed half of the gap to the floor."""
    keras.utils.set_random_seed(spec.seed)
    model = method.build(spec, data)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=method.config["loss"])
    x, y = data.x_train[:examples], data.y_train[:examples]
    losses = [float(model.train_on_batch(x, y, return_dict=True)["loss"]) for _ in range(steps)]
    return {"setting": spec.key, "examples": len(x), "steps": steps, "loss_first": losses[0], "loss_last": losses[-1],
            "loss_floor": loss_floor(method.config, y)}


def loss_floor(config, targets):
    """The config's loss of a perfect prediction of ``targets``: 0 for
    classification (integer labels), else the loss of the targets against
    themselves (e.g. their entropy under binary cross-entropy)."""
    if config["task"] == "classification":
        return 0.0
    targets = np.asarray(targets, "float32")
    return float(np.mean(keras.ops.convert_to_numpy(keras.losses.get(config["loss"])(targets, targets))))


class EpochLine(keras.callbacks.Callback):
    """One plain line per epoch for logs: ``Epoch k/N - 12 s - loss: ... -
    accuracy: ...`` with the model-level logs (per-layer keys, holding a
    "/", left out) and no terminal control codes."""

    def __init__(self, epochs, log=print):
        super().__init__()
        self.epochs, self.log = epochs, log

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = [f"{key}: {value:.4g}" for key, value in (logs or {}).items()
                  if "/" not in key and isinstance(value, numbers.Real)]
        self.log(" - ".join([f"Epoch {epoch + 1}/{self.epochs}", f"{time.perf_counter() - self.start:.0f} s", *values]))


class StopAfterEpoch(keras.callbacks.Callback):
    """Ends a `fit` call after the epoch it runs (the runner drives epochs)."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's learning rate to the epoch logs (for TensorBoard)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


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
    """Writes ``model-<epoch>.keras``, then the state naming it (each
    atomically, `files.replaced_atomically`), then removes older model files. A kill at any
    point leaves a state that names a complete model of the same epoch."""
    os.makedirs(checkpoint_dir, exist_ok=True)
    model_file = f"model-{state['epochs_done']}.keras"
    with replaced_atomically(os.path.join(checkpoint_dir, model_file)) as temporary:
        model.save(temporary)
    state["model_file"] = model_file
    write_atomically(os.path.join(checkpoint_dir, _STATE_FILE), json.dumps(state))
    for name in os.listdir(checkpoint_dir):
        if name.startswith("model-") and name != model_file:
            os.remove(os.path.join(checkpoint_dir, name))
