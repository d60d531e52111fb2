"""Recipes (`dct_keras.recipes`): the builders and `convert` record their
calls, a recipe rebuilds its model (same weights, same outputs), and a shipped
file names the recipe instead of the Keras JSON only where it rebuilds the
model."""

import keras
import numpy as np

import dct_keras
from dct_keras import recipes
from dct_keras.decode import read_shipped
from dct_keras.export.ship import load_shipped, save_shipped
from dct_keras.models import BUILDERS, rebuild
from dct_keras.regularizers import H265RateProxy


def _x():
    return np.random.default_rng(0).standard_normal((2, 28, 28, 1)).astype("float32")


def test_builders_and_conversions_record_what_rebuilds_the_model():
    plain = BUILDERS["lenet5"]("plain", num_classes=10, input_shape=(28, 28, 1), seed=3)
    assert recipes.recipe_of(plain) == {"builder": "lenet5", "variant": "plain",
                                        "arguments": {"num_classes": 10, "input_shape": [28, 28, 1], "seed": 3}}
    model = dct_keras.convert(plain, to="dct", seed=4, switch_off=0.5)
    (step,) = recipes.recipe_of(model)["conversions"]
    assert step == {"to": "dct", "seed": 4, "dense": None, "only_spatial": False, "options": {"switch_off": 0.5}}
    rebuilt = rebuild(recipes.recipe_of(model))
    assert [layer.get_config().get("mask_seed") for layer in rebuilt.layers] == \
        [layer.get_config().get("mask_seed") for layer in model.layers]
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(rebuilt(_x())), keras.ops.convert_to_numpy(model(_x())))


def test_models_without_a_json_able_recipe_have_none():
    plain = BUILDERS["lenet5"]("plain", num_classes=10, input_shape=(28, 28, 1))
    assert recipes.recipe_of(dct_keras.convert(plain, to="dct", kernel_regularizer=H265RateProxy(1e-3))) is None
    assert recipes.recipe_of(keras.models.clone_model(plain)) is None


def test_a_shipped_file_names_the_recipe_only_where_it_rebuilds_the_model(tmp_path):
    model = dct_keras.convert(BUILDERS["lenet5"]("plain", num_classes=10, input_shape=(28, 28, 1)), to="rd", seed=0)
    compact = save_shipped(model, tmp_path / "recipe.dctk")
    assert "recipe" in read_shipped(tmp_path / "recipe.dctk").manifest["architecture"]
    loaded = load_shipped(tmp_path / "recipe.dctk")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(_x())), keras.ops.convert_to_numpy(model(_x())), atol=1e-3)
    # A recipe that does not rebuild the model (another width) is not used: the file carries the Keras JSON.
    recipes.record(model, recipes.built("lenet5", "plain", {"num_classes": 7, "input_shape": [28, 28, 1]}))
    full = save_shipped(model, tmp_path / "json.dctk")
    assert "recipe" not in read_shipped(tmp_path / "json.dctk").manifest["architecture"]
    assert full["bytes"]["header"] > compact["bytes"]["header"] + 500
    assert load_shipped(tmp_path / "json.dctk").count_params() == model.count_params()
