import json
import os

import keras
import keras_tuner
import numpy as np
import pytest
from keras import ops

from dct_keras import DCTConv2D
from dct_keras.experiment import apply_overrides, load_config
from dct_keras.experiment.sweep import SwitchOffHyperModel, default_gamma, make_tuner
from dct_keras.spectral.masks import switch_off_mask

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHAPE = (8, 8, 3)  # Autoencoder 1 at 8 x 8: a few seconds per trial


def _config(name="problem3_autoencoder1", epochs=1, runs=1):
    config = apply_overrides(load_config(os.path.join(ROOT, "configs", f"{name}.json")), epochs=epochs, runs=runs)
    config["batch_size"] = 8
    return config


def _data(seed=0, n_train=16, n_test=8):
    rng = np.random.default_rng(seed)
    return rng.random((n_train, *SHAPE), dtype=np.float32), rng.random((n_test, *SHAPE), dtype=np.float32)


def _hypermodel(tmp_path, config=None, **kwargs):
    return SwitchOffHyperModel(config or _config(), SHAPE, None, str(tmp_path / "sweep"), verbose=0,
                               log=lambda *_: None, **kwargs)


def _search(hypermodel, tmp_path, name="grid", **kwargs):
    x_train, x_test = _data()
    tuner = make_tuner(name, hypermodel, str(tmp_path / "sweep"), executions_per_trial=hypermodel.config["runs"], **kwargs)
    tuner.search(x_train, x_train, validation_data=(x_test, x_test), verbose=0)
    return tuner


def _rows(tmp_path):
    with open(tmp_path / "sweep" / "results.jsonl") as f:
        return [json.loads(line) for line in f]


def _trials(tuner):
    return sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id)


def test_space_is_the_table_v_grid_and_policy_only_where_policies_differ(tmp_path):
    hypermodel = _hypermodel(tmp_path)
    hp = keras_tuner.HyperParameters()
    hypermodel.declare(hp)
    assert hp.get("p") == 0.0 and not hp.is_active("switch_off_policy")
    space = {h.name: h for h in hp.space}
    assert list(space["p"].values) == [0, 0.3, 0.5, 0.7, 0.9]  # configs/problem3_autoencoder1.json
    assert list(space["switch_off_policy"].values) == ["random", "tail"]
    assert hypermodel.objective.name == "val_mse" and hypermodel.objective.direction == "min"
    spatial = _hypermodel(tmp_path, config=_config("problem1_resnet50"), variant="dct_spatial")
    hp = keras_tuner.HyperParameters()
    spatial.declare(hp)
    (condition,) = {h.name: h for h in hp.space}["switch_off_policy"].conditions
    assert list(condition.values) == [0.99, 0.999, 0.9999]  # not 0 nor 1
    classifier = _hypermodel(tmp_path, config=_config("problem2_vgg16"))
    assert classifier.objective.name == "val_accuracy" and classifier.objective.direction == "max"


def test_build_uses_p_and_policy_of_the_trial(tmp_path):
    hypermodel = _hypermodel(tmp_path)
    hp = keras_tuner.HyperParameters()
    hp.values.update({"p": 0.7, "switch_off_policy": "tail", "seed": 0})
    model = hypermodel.build(hp)
    layers = [layer for layer in model.layers if isinstance(layer, DCTConv2D)]
    assert layers and all(layer.switch_off == 0.7 and layer.switch_off_policy == "tail" for layer in layers)
    for layer in layers:
        expected = switch_off_mask(layer.mask.shape, 0.7, 0, "tail", layer.spectral_kernel.transform.frequency_level())
        np.testing.assert_array_equal(ops.convert_to_numpy(layer.mask).astype(bool), expected)
    assert model.optimizer.__class__.__name__ == "Adam"  # Problem 3's regime


@pytest.mark.slow
def test_grid_sweep_runs_every_setting_once_with_seeded_runs_and_resumes(tmp_path):
    hypermodel = _hypermodel(tmp_path, config=_config(runs=2), p_values=[0, 0.5, 0.9])
    tuner = _search(hypermodel, tmp_path)
    trials = _trials(tuner)
    settings = [(t.hyperparameters.get("p"), t.hyperparameters.values.get("switch_off_policy")) for t in trials]
    assert sorted(settings, key=str) == sorted([(0.0, None), (0.5, "random"), (0.5, "tail"), (0.9, "random"), (0.9, "tail")], key=str)
    assert all(t.status == "COMPLETED" for t in trials)
    rows = _rows(tmp_path)
    assert len(rows) == 2 * len(trials) and len({row["run"] for row in rows}) == len(rows)
    assert {row["seed"] for row in rows} == {0, 1}
    for trial in trials:  # the objective is the mean of its runs' final test MSE
        p, policy = trial.hyperparameters.get("p"), trial.hyperparameters.values.get("switch_off_policy") or "random"
        mine = [row["metric"] for row in rows if row["method_fields"]["switch_off"] == p and row["method_fields"]["switch_off_policy"] == policy]
        assert len(mine) == 2 and trial.score == pytest.approx(np.mean(mine))
    assert {row["method_fields"]["block"] for row in rows} == {"all"}
    assert all(row["experiment"] == "problem3_autoencoder1" and row["method"] == "dct_conv" for row in rows)
    # Rerunning resumes: nothing is retrained, no trial is added.
    again = _search(_hypermodel(tmp_path, config=_config(runs=2), p_values=[0, 0.5, 0.9]), tmp_path)
    assert len(again.oracle.trials) == len(trials) and len(_rows(tmp_path)) == len(rows)


@pytest.mark.slow
def test_interrupted_trial_is_retried_and_finishes_once(tmp_path):
    hypermodel = _hypermodel(tmp_path, p_values=[0.3, 0.6], policies=["random"])
    tuner = make_tuner("grid", hypermodel, str(tmp_path / "sweep"))
    started = tuner.oracle.create_trial(tuner.tuner_id)  # a trial running when the process died
    tuner.save()
    tuner.oracle.save()
    resumed = _search(_hypermodel(tmp_path, p_values=[0.3, 0.6], policies=["random"]), tmp_path)
    trials = _trials(resumed)
    assert [t.trial_id for t in trials].count(started.trial_id) == 1
    assert len(trials) == 2 and all(t.status == "COMPLETED" for t in trials)
    assert sorted(row["method_fields"]["switch_off"] for row in _rows(tmp_path)) == [0.3, 0.6]


@pytest.mark.slow
def test_float_range_is_swept_on_its_steps(tmp_path):
    hypermodel = _hypermodel(tmp_path, p_range=(0.2, 0.6, 0.2), policies=["tail"])
    tuner = _search(hypermodel, tmp_path)
    assert sorted(round(t.hyperparameters.get("p"), 6) for t in _trials(tuner)) == [0.2, 0.4, 0.6]
    assert {row["method_fields"]["switch_off_policy"] for row in _rows(tmp_path)} == {"tail"}


def test_freqreg_variant_sweeps_the_kept_fraction(tmp_path):
    config = _config(epochs=2)
    hypermodel = _hypermodel(tmp_path, config=config, variant="freqreg", p_values=[0.9], policies=["tail"])
    assert hypermodel.gamma == pytest.approx(default_gamma(2)) and default_gamma(2) == pytest.approx(0.99)
    _search(hypermodel, tmp_path)
    (row,) = _rows(tmp_path)
    fields = row["method_fields"]
    assert fields["variant"] == "freqreg" and fields["block"] == "freqreg" and fields["switch_off"] == 0.9
    # beta in the last of 2 epochs (one update): eps + (1 - eps) (1 - gamma) = 0.1 + 0.9 * 0.01 of every weight kept
    assert row["params"]["active"] == pytest.approx(0.109 * row["params"]["trainable"], rel=0.02)


@pytest.mark.slow
def test_random_and_hyperband_tuners_complete(tmp_path):
    hypermodel = _hypermodel(tmp_path, config=_config(epochs=2), p_values=[0.3, 0.9])
    tuner = _search(hypermodel, tmp_path, name="random", max_trials=2)
    assert len(tuner.oracle.trials) == 2
    hyperband = _search(_hypermodel(tmp_path / "hb", config=_config(epochs=2), p_values=[0.3, 0.9]), tmp_path / "hb",
                        name="hyperband")
    assert all(t.status == "COMPLETED" for t in hyperband.oracle.trials.values())
    assert {row["epochs_done"] for row in _rows(tmp_path / "hb")} <= {1, 2}


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(variant="lowpass"), "`variant`"),
        (dict(policies=["lowpass"]), "`policies`"),
        (dict(p_values=[1.5]), "`p_values`"),
        (dict(p_range=(0.5, 0.2)), "`p_range`"),
    ],
)
def test_bad_arguments_are_named(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        _hypermodel(tmp_path, **kwargs)


def test_random_tuner_needs_a_trial_budget(tmp_path):
    with pytest.raises(ValueError, match="max_trials"):
        make_tuner("random", _hypermodel(tmp_path), str(tmp_path / "sweep"))


@pytest.mark.slow
def test_distribution_strategy_builds_and_trains_each_trial_under_it(tmp_path):
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.distribute strategies need the TensorFlow backend")
    scopes = []

    class Recording(SwitchOffHyperModel):
        def build(self, hp):
            scopes.append(tf.distribute.has_strategy())
            return super().build(hp)

    hypermodel = Recording(_config(), SHAPE, None, str(tmp_path / "sweep"), p_values=[0.5], policies=["tail"], verbose=0,
                           log=lambda *_: None)
    _search(hypermodel, tmp_path, distribution_strategy=tf.distribute.MirroredStrategy(["/cpu:0"]))
    plain = _search(_hypermodel(tmp_path / "plain", p_values=[0.5], policies=["tail"]), tmp_path / "plain")
    assert scopes[-1] is True
    (row,) = _rows(tmp_path)
    assert row["metric"] == pytest.approx(_rows(tmp_path / "plain")[0]["metric"], rel=1e-4)
    assert len(plain.oracle.trials) == 1


def test_selecting_searches_report_the_test_set_beside_a_validation_objective(tmp_path):
    x_train, x_test = _data()
    x_validation = x_train[-4:]
    hypermodel = _hypermodel(tmp_path, p_values=[0.5], policies=["random"], test_data=(x_test, x_test),
                             data_identity={"sha256": "synthetic"})
    tuner = make_tuner("random", hypermodel, str(tmp_path / "sweep"), max_trials=1, executions_per_trial=1)
    tuner.search(x_train[:-4], x_train[:-4], validation_data=(x_validation, x_validation), verbose=0)
    (row,) = _rows(tmp_path)
    assert row["metric_split"] == "validation" and row["test_examples"] == len(x_validation)
    assert row["test_metric"] != row["metric"]  # selected on the validation split, the test set only reported
    trial = next(iter(tuner.oracle.trials.values()))
    assert trial.score == pytest.approx(row["metric"])
