"""The experimental protocol of dct_conv.txt §V-G, resumable run by run.

1. the original CNN is trained;
2. its convolutions are replaced by DCT-Conv layers (p = 0), coefficients
   initialized as the filters were, and trained from the beginning;
3. for every p of the grid: fresh masks, re-initialized coefficients, trained
   from the beginning.

Each (variant, p, seed) is one *run*, repeated with ``runs`` distinct seeds.
A finished run appends one JSON line to ``<out>/results.jsonl``. A run in
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
from dct_keras.experiment.schedules import learning_rate_fn
from dct_keras.models import BUILDERS

RESULTS_FILE = "results.jsonl"


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run: a variant, its switch-off p (None for the CNN), a seed.

    ``policy`` is how the ``p`` fraction is switched off: "random" (the
    paper's DCT-Conv masks) or "tail" (the highest frequencies). For the
    "freqreg" variant p = 1 - the final kept fraction, and the policy is that of
    its `TailDropout` ("tail": the dynamic schedule; "random": a fixed random
    subset).
    """

    variant: str
    p: float | None
    seed: int
    block: str | None = None  # the Table V block; None for the CNN shared by all blocks
    policy: str = "random"

    @property
    def key(self):
        setting = self.variant if self.p is None else f"{self.variant}-p{self.p:g}"
        if self.policy != "random":
            setting += f"-{self.policy}"
        return f"{setting}-seed{self.seed}"


def plan_runs(config, blocks, p_values=None):
    """Runs in protocol order: CNN, then DCT at p = 0, then the other p's.

    Args:
        config: the effective config.
        blocks: names of ``config["blocks"]`` to run.
        p_values: optional subset of p to run (the CNN runs when 'cnn' is in it
            or when it is None).
    """
    seeds = range(config["runs"])
    wanted = None if p_values is None else {str(p) for p in p_values}
    plan = []
    if wanted is None or "cnn" in wanted:
        plan += [RunSpec("cnn", None, s) for s in seeds]
    for stage_zero in (True, False):
        for name in blocks:
            block = config["blocks"][name]
            for p in block["p_grid"]:
                if (p == 0) != stage_zero or (wanted is not None and f"{p:g}" not in wanted and str(p) not in wanted):
                    continue
                plan += [RunSpec(block["variant"], float(p), s, name) for s in seeds]
    return plan


@dataclasses.dataclass
class PreparedData:
    """Model-ready arrays: normalized inputs and targets of both splits."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str


def prepare_data(config, dataset):
    """Classifiers: eq. (4) per-channel normalization with training statistics,
    integer labels. Autoencoders: pixels in [0, 1], the input is the target."""
    if config["task"] == "classification":
        mean, std = channel_statistics(dataset.x_train)
        return PreparedData(
            normalize(dataset.x_train, mean, std), dataset.y_train,
            normalize(dataset.x_test, mean, std), dataset.y_test, dataset.num_classes, dataset.source,
        )
    x_train, x_test = to_unit_range(dataset.x_train), to_unit_range(dataset.x_test)
    return PreparedData(x_train, x_train, x_test, x_test, dataset.num_classes, dataset.source)


def build_model(config, spec, input_shape, num_classes=None):
    """The problem's model in the run's variant, compiled with its regime."""
    builder = BUILDERS[config["model"]]
    kwargs = {"input_shape": tuple(input_shape), "seed": spec.seed}
    if config["task"] == "classification":
        kwargs["num_classes"] = num_classes
    if config["l2"]:
        kwargs["l2"] = config["l2"]
    if spec.variant in ("dct", "dct_spatial"):
        kwargs.update(switch_off=spec.p or 0.0, switch_off_policy=spec.policy)
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
        row_fn: ``row_fn(model)`` returning extra fields for the result row.
    """

    def __init__(self, config, data, out_dir, strategy=None, session_epochs=None, verbose="auto", log=print,
                 model_fn=None, callbacks_fn=None, row_fn=None):
        self.model_fn = model_fn or _build_for_data
        self.callbacks_fn = callbacks_fn or (lambda spec: [])
        self.row_fn = row_fn or (lambda model: {})
        self.config = config
        self.data = data
        self.out_dir = out_dir
        self.strategy = strategy
        self.session_epochs = session_epochs
        self.verbose = verbose
        self.log = log
        self.hash = config_hash(config)
        os.makedirs(out_dir, exist_ok=True)
        self.results_path = os.path.join(out_dir, RESULTS_FILE)

    def finished_rows(self):
        """Run key -> result row, of the runs already in the results file for
        this config."""
        rows = {}
        if os.path.exists(self.results_path):
            with open(self.results_path) as f:
                for line in f:
                    if line.strip():
                        row = json.loads(line)
                        if row.get("config_hash") == self.hash:
                            rows[row["run"]] = row
        return rows

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
        model_path = os.path.join(checkpoint_dir, "model.keras")
        state_path = os.path.join(checkpoint_dir, "state.json")
        state = {"epochs_done": start_epoch, "wall_time_s": 0.0, "history": []}
        if os.path.exists(state_path) and os.path.exists(model_path):
            with open(state_path) as f:
                state = json.load(f)
            model = self._in_scope(lambda: keras.models.load_model(model_path))
            self.log(f"    resuming from epoch {state['epochs_done']}")
        elif model is None:
            model = self._in_scope(lambda: self.model_fn(self.config, spec, self.data))
        learning_rate = learning_rate_fn(self.config["learning_rate"])
        epochs = self.config["epochs"]
        callbacks = self.callbacks_fn(spec) + list(callbacks)
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
            _save_checkpoint(model, state, checkpoint_dir, model_path, state_path)
        row = self._result_row(spec, model, state)
        with open(self.results_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        self.final_model = model
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
        self.log(f"    {row['metric_name']} = {row['metric']:.5f} ({row['epochs_done']} epochs, {row['wall_time_s']:.1f} s)")
        return row

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
            "policy": spec.policy,
            "seed": spec.seed,
            "run": spec.key,
            "metric_name": metric_name,
            "metric": float(scores[metric_name]),
            "test_loss": float(scores["loss"]),
            "epochs_done": state["epochs_done"],
            "epochs_budget": self.config["epochs"],
            "wall_time_s": round(state["wall_time_s"], 2),
            "params_total": counts.total,
            "params_trainable": counts.trainable,
            "params_active": counts.active,
            "train_examples": len(self.data.x_train),
            "test_examples": len(self.data.x_test),
            "data": self.data.source,
            "config_hash": self.hash,
            "backend": keras.backend.backend(),
            **self.row_fn(model),
        }


def _build_for_data(config, spec, data):
    return build_model(config, spec, data.x_train.shape[1:], data.num_classes)


def _save_checkpoint(model, state, checkpoint_dir, model_path, state_path):
    """Writes the model, then the state, each atomically (write + rename)."""
    os.makedirs(checkpoint_dir, exist_ok=True)
    model.save(model_path + ".tmp.keras")
    os.replace(model_path + ".tmp.keras", model_path)
    with open(state_path + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(state_path + ".tmp", state_path)
