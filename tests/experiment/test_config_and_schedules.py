import copy
import glob
import json
import math
import os

import pytest

from dct_keras.experiment import ConfigError, apply_overrides, config_hash, learning_rate_fn, load_config, validate_config
from dct_keras.experiment.config import config_names, resolve_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, "configs", "problem*.json")))


def _config(name):
    return load_config(os.path.join(ROOT, "configs", f"{name}.json"))


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "dct_keras", "configs", "*.json"))), ids=os.path.basename)
def test_every_config_file_validates(path):
    load_config(path)


def test_all_configs_validate():
    assert len(CONFIGS) == 4
    assert [load_config(p)["experiment"] for p in CONFIGS] == [os.path.basename(p)[:-5] for p in CONFIGS]
    assert {load_config(p)["method"] for p in CONFIGS} == {"dct_conv"}


def test_every_shipped_config_names_a_method_and_resolves_by_name():
    names = config_names()
    assert len(names) == 12
    methods = {load_config(resolve_config(name))["method"] for name in names}
    assert methods == {"dct_conv", "freqreg", "harmonic", "reorder", "ctnet", "frontier"}
    assert os.path.samefile(resolve_config("problem2_vgg16"), os.path.join(ROOT, "configs", "problem2_vgg16.json"))
    with pytest.raises(ConfigError, match="does not exist.*problem1_resnet50"):
        resolve_config("problem9_nothing")


def test_the_config_is_checked_by_its_methods_schema():
    config = copy.deepcopy(_config("problem3_autoencoder1"))
    del config["method"]
    with pytest.raises(ConfigError, match="missing key `method`"):
        validate_config(config)
    config["method"] = "jpeg"
    with pytest.raises(ConfigError, match="`method` must be one of"):
        validate_config(config)
    config["method"] = "freqreg"  # a DCT-Conv config is not a valid FreqReg one
    with pytest.raises(ConfigError, match="unknown key `model`|unknown key `blocks`"):
        validate_config(config)
    tiered = copy.deepcopy(_config("freqreg_lenet_mnist"))
    tiered["quick"]["tail_dropout"]["gamma"] = 2.0  # valid type, invalid once applied
    with pytest.raises(ConfigError, match="quick tier.*gamma"):
        validate_config(tiered)
    tiered["quick"]["tail_dropout"] = {"gamma": 0.5, "speed": 1}
    with pytest.raises(ConfigError, match=r"unknown key `quick\.tail_dropout\.speed`"):
        validate_config(tiered)


def test_a_tier_merges_nested_sections_one_level_deep():
    config = _config("freqreg_lenet_mnist")
    quick = apply_overrides(config, tier="quick")
    assert quick["tail_dropout"] == {**config["tail_dropout"], "gamma": config["quick"]["tail_dropout"]["gamma"]}
    reorder = apply_overrides(load_config(resolve_config("reorder_resnet18_cifar")), tier="quick")
    assert reorder["base"] == {"config": "freqreg_cifar10", "setting": "resnet18-ref", "epochs": 1}
    assert reorder["grid"]["compressors"] == ["reorder", "no-reorder", "l1"] and reorder["grid"]["rows"] == [4]


def test_a_recipe_applies_before_the_tier_and_is_checked_like_one():
    config = _config("ctnet_imagenette")
    run3 = apply_overrides(config, tier="budget", recipe="run3")
    assert run3["recipe"] == "run3" and run3["epochs"] == config["budget"]["epochs"]  # the tier over the recipe
    assert run3["rate_proxy"] == {**config["rate_proxy"], **{k: v for k, v in config["recipes"]["run3"]["rate_proxy"].items()}}
    assert apply_overrides(config)["recipe"] == config["recipe"] and "source" not in apply_overrides(config)
    with pytest.raises(ConfigError, match="no recipe 'run2'"):
        apply_overrides(config, recipe="run2")
    with pytest.raises(ConfigError, match="no `recipes`"):
        apply_overrides(_config("freqreg_lenet_mnist"), recipe="run1")
    wrong = copy.deepcopy(config)
    wrong["recipes"]["run1"]["rate_proxy"]["speed"] = 1
    with pytest.raises(ConfigError, match=r"unknown key `recipes\.run1\.rate_proxy\.speed`"):
        validate_config(wrong)
    wrong = copy.deepcopy(config)
    wrong["recipe"] = "run9"
    with pytest.raises(ConfigError, match="`recipe` 'run9' is not one of"):
        validate_config(wrong)
    wrong = copy.deepcopy(config)
    wrong["recipes"]["run3"]["export"] = {"bit_depth": 9}
    with pytest.raises(ConfigError, match="recipe 'run3'.*bit_depth"):
        validate_config(wrong)


def test_cosine_schedule_anneals_over_the_runs_epochs():
    lr = learning_rate_fn({"cosine": {"initial": 1e-3, "final": 1e-5}}, epochs=10)
    assert lr(0) == pytest.approx(1e-3) and lr(5) == pytest.approx((1e-3 + 1e-5) / 2)
    assert [lr(e) for e in range(10)] == sorted([lr(e) for e in range(10)], reverse=True)
    assert lr(10) == pytest.approx(1e-5)
    assert learning_rate_fn({"cosine": {"initial": 1e-3, "final": 1e-5}}, epochs=0)  # a run that trains nothing
    with pytest.raises(ValueError, match="needs the run's `epochs`"):
        learning_rate_fn({"cosine": {"initial": 1e-3, "final": 1e-5}})


def test_cosine_with_warmup_follows_the_ctnet_authors_schedule():
    lr = learning_rate_fn({"cosine": {"initial": 1e-3, "final": 0.0, "warmup_epochs": 5}}, epochs=25)
    # Reference: (e + 1) / 5 for e < 5, then (1 + cos(pi (e - 5) / 20)) / 2, times the initial rate.
    for epoch in range(25):
        factor = (epoch + 1) / 5 if epoch < 5 else 0.5 * (1 + math.cos(math.pi * (epoch - 5) / 20))
        assert lr(epoch) == pytest.approx(1e-3 * factor)


def test_table_v_grids():
    p1 = _config("problem1_resnet50")
    assert p1["blocks"]["all"]["p_grid"] == [0, 0.3, 0.5, 0.7, 0.9, 0.97]
    assert p1["blocks"]["spatial"]["p_grid"] == [0, 0.99, 0.999, 0.9999, 1]
    for name in ("problem2_vgg16", "problem3_autoencoder1", "problem4_autoencoder2"):
        assert _config(name)["blocks"]["all"]["p_grid"] == [0, 0.3, 0.5, 0.7, 0.9]


def test_regimes_match_section_v():
    p1, p2, p3, p4 = (_config(n) for n in ("problem1_resnet50", "problem2_vgg16", "problem3_autoencoder1", "problem4_autoencoder2"))
    assert p1["optimizer"] == {"name": "sgd", "momentum": 0.9, "nesterov": False} and p1["batch_size"] == 128
    assert p2["optimizer"] == {"name": "sgd", "momentum": 0.9, "nesterov": True} and p2["l2"] == 0.0005
    assert (p3["optimizer"]["name"], p3["learning_rate"], p3["batch_size"], p3["loss"]) == ("adam", {"constant": 0.001}, 64, "binary_crossentropy")
    assert (p4["learning_rate"], p4["batch_size"]) == ({"constant": 0.0005}, 64)
    assert p1["epochs"] == p2["epochs"] == 200


@pytest.mark.parametrize(
    "epoch_1_based,rate", [(1, 0.001), (2, 0.1), (60, 0.1), (61, 0.02), (120, 0.02), (121, 0.004), (160, 0.004), (161, 0.0008), (200, 0.0008)]
)
def test_problem1_piecewise_schedule_boundaries(epoch_1_based, rate):
    lr = learning_rate_fn(_config("problem1_resnet50")["learning_rate"])
    assert lr(epoch_1_based - 1) == pytest.approx(rate)


@pytest.mark.parametrize("t,rate", [(0, 0.1), (19, 0.1), (20, 0.05), (39, 0.05), (40, 0.025), (199, 0.1 * 0.5**9)])
def test_problem2_halving_schedule(t, rate):
    lr = learning_rate_fn(_config("problem2_vgg16")["learning_rate"])
    assert lr(t) == pytest.approx(rate)


def test_constant_schedule():
    assert learning_rate_fn({"constant": 5e-4})(123) == 5e-4


def test_unknown_key_is_named():
    config = copy.deepcopy(_config("problem3_autoencoder1"))
    config["optimizer"]["momentom"] = 0.9
    with pytest.raises(ConfigError, match=r"unknown key `optimizer\.momentom`"):
        validate_config(config)


@pytest.mark.parametrize(
    "path,value,match",
    [
        (("batch_size",), "64", r"`batch_size` must be of type int"),
        (("epochs",), 2.5, r"`epochs` must be of type int"),
        (("augment",), 1, r"`augment` must be of type bool"),
        (("optimizer", "momentum"), True, r"`optimizer\.momentum` must be of type int/float"),
        (("task",), "segmentation", r"`task` must be one of"),
        (("quick", "epochs"), None, r"`quick\.epochs` must be of type int"),
    ],
)
def test_wrong_types_are_named(path, value, match):
    config = copy.deepcopy(_config("problem1_resnet50"))
    section = config
    for key in path[:-1]:
        section = section[key]
    section[path[-1]] = value
    with pytest.raises(ConfigError, match=match):
        validate_config(config)


def test_an_unknown_architecture_is_named_before_keras_loads():
    from dct_keras.experiment.config import MODELS
    from dct_keras.models import BUILDERS

    assert set(MODELS) == set(BUILDERS)
    for name, key, value in (("problem1_resnet50", "model", "resnet51"), ("freqreg_cifar10", "models", None)):
        config = copy.deepcopy(_config(name))
        if value is None:
            config["models"]["vgg19"] = config["models"].pop("vgg16")
        else:
            config[key] = value
        with pytest.raises(ConfigError, match=f"`{key}` names an unknown architecture"):
            validate_config(config)


@pytest.mark.parametrize("export,match", [
    ({"lossless": False}, r"needs `export\.crf` in 0-51"), ({"lossless": False, "crf": 60}, "needs `export.crf`"),
    ({"crf": 20}, "applies to a lossy export"), ({"bit_depth": 9}, "8, 10 or 12")])
def test_the_ctnet_export_settings_are_checked_before_training(export, match):
    config = copy.deepcopy(_config("ctnet_imagenette"))
    config["export"].update(export)
    with pytest.raises(ConfigError, match=match):
        validate_config(config)
    config["export"].update(lossless=False, crf=28, bit_depth=8)
    validate_config(config)  # a lossy export with its crf is a valid config


def test_missing_key_and_bad_grid(tmp_path):
    config = copy.deepcopy(_config("problem2_vgg16"))
    del config["runs"]
    with pytest.raises(ConfigError, match="missing key `runs`"):
        validate_config(config)
    config = copy.deepcopy(_config("problem2_vgg16"))
    config["blocks"]["all"]["p_grid"] = [0, 1.5]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="p_grid"):
        load_config(path)


def test_overrides_and_hash():
    config = _config("problem3_autoencoder1")
    quick = apply_overrides(config, tier="quick")
    assert quick["epochs"] == config["quick"]["epochs"] and quick["runs"] == config["quick"]["runs"]
    assert apply_overrides(config, epochs=7, runs=2)["epochs"] == 7
    assert config_hash(quick) != config_hash(config) and config_hash(config) == config_hash(copy.deepcopy(config))


def test_budget_tier_schedule():
    # A budget tier may compress the schedule to its epochs; the full protocol keeps the paper's.
    config = _config("problem2_vgg16")
    budget = apply_overrides(config, tier="budget")
    assert budget["learning_rate"] == config["budget"]["learning_rate"] != config["learning_rate"]
    assert apply_overrides(config)["learning_rate"] == config["learning_rate"] == {"halving": {"initial": 0.1, "factor": 0.5, "every": 20}}
    rates = [learning_rate_fn(budget["learning_rate"])(epoch) for epoch in range(budget["epochs"])]
    assert rates[0] == 0.1 and all(later < earlier for earlier, later in zip(rates, rates[1:]))
    broken = copy.deepcopy(config)
    broken["budget"]["learning_rate"] = {"constant": 0.1, "halving": {"initial": 0.1, "factor": 0.5, "every": 1}}
    with pytest.raises(ConfigError, match=r"budget tier\): `learning_rate` needs exactly one"):
        validate_config(broken)
