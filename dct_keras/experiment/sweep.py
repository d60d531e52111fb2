"""keras-tuner sweeps over the switch-off probability p.

`SwitchOffHyperModel` turns one problem config (dct_conv.txt Problems 1-4) into
a `keras_tuner.HyperModel` whose hyperparameters are

* ``p`` – a `Choice` over the config's Table V grid (default), given values,
  or a `Float` range;
* ``switch_off_policy`` – ``"random"`` (the paper) and/or ``"tail"`` (the
  highest frequencies); with a `Choice` of p it is only active for
  0 < p < 1, where the two differ.

The model is built and trained with the problem's own regime (optimizer, LR
schedule per epoch, batch size, epochs, L2) through the protocol `Runner`, so
every execution writes the same result row as ``dct-keras run`` (to
``results_dir/results.jsonl``, rendered by ``dct-keras report``) and
checkpoints every epoch: a rerun resumes an interrupted execution at its last
epoch and reuses finished ones. The objective is the problem's metric of the
*final* model on the validation data (the test split, as in Table V):
``val_accuracy`` (max) or ``val_mse`` (min), averaged over executions.

The ``"freqreg"`` variant sweeps the Frequency Regularization layers the same
way: p = 1 - the kept fraction that `TailDropout` reaches (switch-off policy
``"tail"``: its dynamic schedule; ``"random"``: a fixed random subset).

The tuners of `make_tuner` (`GridSearch`, `RandomSearch`,
`BayesianOptimization`, `Hyperband`) give execution ``i`` of each trial the seed
``i``, like the reproductions' ``--runs``; they support keras-tuner's
distributed chief / worker mode (``KERASTUNER_TUNER_ID``,
``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``) and a
``distribution_strategy``.
"""

import copy
import numbers
import sys

import numpy as np

import keras_tuner

from dct_keras.experiment.data import PreparedData
from dct_keras.experiment.dct_conv import DCTConv, run_spec
from dct_keras.experiment.runner import Runner
from dct_keras.experiment.tables import plural
from dct_keras.experiment.techniques.freqreg import tail_dropout
from dct_keras.framework import SeededExecutions, rebuild_grid_order
from dct_keras.spectral.masks import SWITCH_OFF_POLICIES

VARIANTS = ("dct", "dct_spatial", "freqreg")
# Where a "freqreg" run's switched-off coefficients land -> the TailDropout schedule that puts them there.
FREQREG_SCHEDULES = {"tail": "dynamic", "random": "random"}
OBJECTIVES = {"classification": ("val_accuracy", "max"), "reconstruction": ("val_mse", "min")}


def objective(config):
    """The problem's tuning objective: its metric on the validation data."""
    return keras_tuner.Objective(*OBJECTIVES[config["task"]])


def default_gamma(epochs, remaining=0.01):
    """The `TailDropout` speed that leaves ``remaining`` of the gap
    ``beta - epsilon`` at the last epoch: its ``epochs - 1`` updates (after
    every epoch but the last) give ``1 - remaining ** (1 / (epochs - 1))``;
    1 for a single epoch (which trains under the static tail instead)."""
    return 1.0 if epochs < 2 else 1.0 - remaining ** (1.0 / (epochs - 1))


class SwitchOffHyperModel(keras_tuner.HyperModel):
    """A problem config as a HyperModel over the switch-off probability p.

    Args:
        config: the effective problem config (`apply_overrides` applied).
        input_shape: the model's input shape.
        num_classes: classifier outputs (ignored for autoencoders).
        results_dir: folder of the result rows and per-epoch checkpoints.
        variant: "dct", "dct_spatial" or "freqreg".
        block: the name written in the rows' ``block`` field (default: the
            config block of the variant, or "freqreg").
        p_values: the values of the ``p`` Choice (default: the block's
            ``p_grid``; for "freqreg", the first block's).
        p_range: ``(min, max)`` or ``(min, max, step)``: a ``p`` Float
            instead of a Choice.
        policies: the ``switch_off_policy`` values (one value: fixed).
        gamma: `TailDropout` speed of the "freqreg" variant (default:
            `default_gamma` of the epoch budget).
        min_kept: `TailDropout` floor per weight of the "freqreg" variant.
        strategy: the `tf.distribute` strategy a resumed checkpoint is loaded
            under (the tuner builds fresh models under its own).
        source: the data's description, written in the rows.
        verbose: `fit` verbosity.
        log: function printing progress lines.
        test_data: optional ``(x_test, y_test)``. Searches that select or stop
            trials on data (random, Bayesian, Hyperband) get a validation split
            held out from the training data as ``validation_data``; the test
            set is then only reported, in each row's ``test_metric``.

    Executions of a plain keras-tuner tuner all use seed 0 (the same run, so
    the second one reuses the first's row); the tuners of `make_tuner` give
    execution ``i`` the seed ``i``.
    """

    def __init__(self, config, input_shape, num_classes, results_dir, variant="dct", block=None, p_values=None,
                 p_range=None, policies=SWITCH_OFF_POLICIES, gamma=None, min_kept=1, strategy=None, source="",
                 verbose="auto", log=print, test_data=None, data_identity=None):
        super().__init__(name=f"{config['experiment']}_{variant}")
        if variant not in VARIANTS:
            raise ValueError(f"Invalid value for argument `variant`: expected one of {VARIANTS}, received {variant!r}.")
        policies = tuple(policies)
        if not policies or any(policy not in SWITCH_OFF_POLICIES for policy in policies):
            raise ValueError(f"Invalid value for argument `policies`: expected values of {SWITCH_OFF_POLICIES}, received {policies!r}.")
        self.config = config
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.results_dir = results_dir
        self.variant = variant
        self.block = block or _block_of(config, variant)
        self.p_range = _check_range(p_range)
        self.p_values = None if self.p_range else _check_values(p_values, config, self.block)
        self.policies = policies
        self.gamma = default_gamma(config["epochs"]) if gamma is None else gamma
        self.min_kept = min_kept
        self.strategy = strategy
        self.source = source
        self.verbose = verbose
        self.log = log
        self.test_data = test_data
        self.data_identity = data_identity

    @property
    def objective(self):
        return objective(self.config)

    def declare(self, hp):
        """Registers (or reads) ``p`` and ``switch_off_policy`` in ``hp``."""
        if self.p_range:
            low, high, step = self.p_range
            # keras-tuner builds the steps by repeated float addition and
            # drops an end point that lands a rounding error past `high`.
            p = hp.Float("p", low, high + 1e-6 * (step or 0), step=step)
            policy = hp.Choice("switch_off_policy", list(self.policies))
            return p, policy
        p = hp.Choice("p", list(self.p_values), ordered=True)
        # At p = 0 (nothing off) and p = 1 (everything off) the policies agree.
        partial = [value for value in self.p_values if 0 < value < 1]
        if not partial:
            return p, self.policies[0]
        with hp.conditional_scope("p", partial):
            policy = hp.Choice("switch_off_policy", list(self.policies))
        return p, policy or self.policies[0]

    def run_spec(self, hp):
        """The `RunSpec` of ``hp`` (its ``seed`` value, else 0)."""
        p, policy = self.declare(hp)
        more = {}
        if self.variant == "freqreg":
            # One epoch has no update of the dynamic schedule: it trains under the tail at epsilon (static).
            schedule = FREQREG_SCHEDULES[policy] if self.config["epochs"] > 1 or policy != "tail" else "static"
            more["tail_dropout"] = {"gamma": self.gamma, "min_kept": self.min_kept, "schedule": schedule}
        return run_spec(self.variant, round(float(p), 9), int(hp.values.get("seed", 0)), self.block, policy, **more)

    def build(self, hp):
        shapes = PreparedData(np.zeros((1, *self.input_shape)), None, None, None, self.num_classes, self.source)
        return DCTConv(self.config).build(self.run_spec(hp), shapes)

    def fit(self, hp, model, x, y, validation_data=None, callbacks=None, epochs=None, initial_epoch=0, **kwargs):
        """Trains ``model`` with the problem's regime (or resumes / reuses this
        run); returns the final model's metrics on ``validation_data``.

        ``epochs`` (a tuner's budget, e.g. Hyperband's) overrides the config's;
        other `fit` keyword arguments (e.g. ``verbose``) are ignored: the
        regime fixes batch size, data order and schedule.
        """
        if validation_data is None:
            raise ValueError("SwitchOffHyperModel.fit needs `validation_data=(x_test, y_test)`: the objective is its metric.")
        spec = self.run_spec(hp)
        config = copy.deepcopy(self.config)
        if epochs is not None:
            config["epochs"] = int(epochs)
        identity = None if self.data_identity is None else {**self.data_identity, "validation": self.test_data is not None}
        data = PreparedData(x, y, validation_data[0], validation_data[1], self.num_classes, self.source, identity)
        runner = Runner(DCTConv(config), data, self.results_dir, strategy=self.strategy, verbose=self.verbose, log=self.log,
                        row_extra=self._test_fields)
        row = runner.finished_rows().get(spec.key)
        if row is None:
            self.log(f"    {spec.key}: training {plural(config['epochs'], 'epoch')}")
            row = runner.run(spec, model=model, callbacks=self._callbacks(spec) + list(callbacks or []),
                             start_epoch=initial_epoch)
        else:
            self.log(f"    {spec.key}: finished earlier, reused")
        return {"val_" + row["metric_name"]: row["metric"], "val_loss": row["test_loss"]}

    @staticmethod
    def _callbacks(spec):
        """The "freqreg" variant's `TailDropout` towards 1 - p (the FreqReg technique's own builder)."""
        if spec.options["variant"] != "freqreg":
            return []
        return [tail_dropout(spec.options["tail_dropout"], 1.0 - spec.options["switch_off"], spec.seed)]

    def _test_fields(self, model):
        """The held-out test metric, when the objective is on a validation split."""
        if self.test_data is None:
            return {}
        name = self.objective.name[len("val_"):]
        scores = model.evaluate(*self.test_data, batch_size=self.config["batch_size"], verbose=0, return_dict=True)
        return {"metric_split": "validation", "test_metric": float(scores[name])}


class ResumableGridSearchOracle(keras_tuner.oracles.GridSearchOracle):
    """`GridSearchOracle` that can resume a search.

    keras-tuner does not save the grid's bookkeeping, so a reloaded search
    stops early or fails with a KeyError (keras-team/keras-tuner#1055);
    `dct_keras.framework.rebuild_grid_order` rebuilds it.
    """

    def reload(self):
        super().reload()
        rebuild_grid_order(self)


class GridSearch(SeededExecutions, keras_tuner.Tuner):
    """`keras_tuner.GridSearch` with seeded executions and resumable state."""

    def __init__(self, hypermodel=None, objective=None, max_trials=None, seed=None, **kwargs):
        oracle = ResumableGridSearchOracle(objective=objective, max_trials=max_trials, seed=seed)
        super().__init__(oracle, hypermodel, **kwargs)


class RandomSearch(SeededExecutions, keras_tuner.RandomSearch):
    """`keras_tuner.RandomSearch` with seeded executions."""


class BayesianOptimization(SeededExecutions, keras_tuner.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` with seeded executions."""


class Hyperband(SeededExecutions, keras_tuner.Hyperband):
    """`keras_tuner.Hyperband` with seeded executions."""


TUNERS = {"grid": GridSearch, "random": RandomSearch, "bayesian": BayesianOptimization, "hyperband": Hyperband}


def make_tuner(name, hypermodel, directory, project_name="tuner", max_trials=None, executions_per_trial=1,
               overwrite=False, distribution_strategy=None, seed=0):
    """A seeded-execution tuner over a `SwitchOffHyperModel`.

    Args:
        name: "grid" (every value of the space; ``max_trials`` optional),
            "random" / "bayesian" (``max_trials`` required), "hyperband"
            (``max_epochs`` = the config's epochs, factor 3).
        hypermodel: the `SwitchOffHyperModel`.
        directory, project_name: the tuner's state folder.
        max_trials: trial budget.
        executions_per_trial: runs per trial (seeds 0, 1, ...).
        overwrite: False resumes the search found in the folder.
        distribution_strategy: a `tf.distribute` strategy each trial's model
            is built (and so trained) under; also the hypermodel's ``strategy``
            (for resumed checkpoints) when it has none.
        seed: the tuner's own random seed.
    """
    if name not in TUNERS:
        raise ValueError(f"Invalid value for argument `name`: expected one of {sorted(TUNERS)}, received {name!r}.")
    if name in ("random", "bayesian") and not max_trials:
        raise ValueError(f"The {name!r} tuner needs `max_trials`.")
    kwargs = {"objective": hypermodel.objective, "executions_per_trial": executions_per_trial, "directory": directory,
              "project_name": project_name, "overwrite": overwrite, "distribution_strategy": distribution_strategy,
              "seed": seed}
    if hypermodel.strategy is None:
        hypermodel.strategy = distribution_strategy
    if name == "hyperband":
        kwargs["max_epochs"] = hypermodel.config["epochs"]
    else:
        kwargs["max_trials"] = max_trials
    return TUNERS[name](hypermodel, **kwargs)


def _block_of(config, variant):
    if variant == "freqreg":
        return "freqreg"
    for name, block in config["blocks"].items():
        if block["variant"] == variant:
            return name
    raise ValueError(f"The config has no block of variant {variant!r}; its blocks: {sorted(config['blocks'])}.")


def _check_values(p_values, config, block):
    if p_values is None:
        blocks = config["blocks"]
        p_values = (blocks[block] if block in blocks else next(iter(blocks.values())))["p_grid"]
    values = sorted({float(p) for p in p_values})
    if not values or any(not 0 <= p <= 1 for p in values):
        raise ValueError(f"Invalid value for argument `p_values`: expected values in [0, 1], received {p_values!r}.")
    return values


def _check_range(p_range):
    if p_range is None:
        return None
    if len(p_range) not in (2, 3) or not all(isinstance(v, numbers.Real) for v in p_range):
        raise ValueError(f"Invalid value for argument `p_range`: expected (min, max) or (min, max, step), received {p_range!r}.")
    low, high, step = (*p_range, None)[:3]
    if not 0 <= low < high <= 1 or (step is not None and not 0 < step <= high - low):
        raise ValueError(f"Invalid value for argument `p_range`: expected 0 <= min < max <= 1 and 0 < step <= max - min, received {p_range!r}.")
    return float(low), float(high), None if step is None else float(step)


def summarize(tuner, hypermodel):
    """Prints one line per trial (best first); returns the number of trials
    that did not complete, after printing their errors."""
    name, direction = hypermodel.objective.name, hypermodel.objective.direction
    trials = list(tuner.oracle.trials.values())
    done = [t for t in trials if t.status == "COMPLETED" and t.score is not None]
    done.sort(key=lambda t: t.score, reverse=direction == "max")
    split = "the test split" if hypermodel.test_data is None else "a validation split held out of the training data"
    print(f"\n| trial | p | switch_off_policy | {name[len('val_'):]} on {split}: the objective (mean over runs) |"
          "\n|---|---|---|---|")
    for trial in done:
        values = trial.hyperparameters.values
        print(f"| {trial.trial_id} | {values['p']:g} | {values.get('switch_off_policy', hypermodel.policies[0])} | {trial.score:.5f} |")
    failed = [t for t in trials if t.status not in ("COMPLETED", "RUNNING", "IDLE")]
    for trial in failed:
        print(f"\ntrial {trial.trial_id} ({trial.hyperparameters.values}) {trial.status}:\n{trial.message}", file=sys.stderr)
    return len(failed)
