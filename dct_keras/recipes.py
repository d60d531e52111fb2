"""A model's recipe: the library calls that build its architecture.

A model made by one of the library's builders (`dct_keras.models.BUILDERS`)
and then converted (`dct_keras.convert`) carries the calls as a small
JSON-able dict::

    {"builder": "lenet5", "variant": "plain", "arguments": {"num_classes": 10, ...},
     "conversions": [{"to": "rd", "seed": 0, "dense": null, "only_spatial": false,
                      "options": {"rate_weight": 1e-05, "log_speed": 10.0}}]}

`dct_keras.models.rebuild(recipe)` makes the model of a recipe. A shipped
file (`dct_keras.export.ship`) names that instead of the model's Keras JSON (a few hundred bytes instead of kilobytes, which matter for a
model of a few kilobytes), after checking that the recipe rebuilds the
model: the same weights give the same outputs. A model whose calls are not
all JSON-able (a regularizer object, a custom layer) has no recipe.
"""

import json

ATTRIBUTE = "_dct_keras_recipe"


def recipe_of(model):
    """The model's recipe (a dict), or None."""
    text = getattr(model, ATTRIBUTE, None)
    return None if text is None else json.loads(text)


def record(model, recipe):
    """Attaches ``recipe`` to ``model`` (nothing when it is not JSON-able or
    None); returns the model."""
    if recipe is None:
        return model
    try:
        text = json.dumps(recipe, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return model
    object.__setattr__(model, ATTRIBUTE, text)  # a string: not tracked by Keras
    return model


def built(name, variant, arguments):
    """The recipe of ``BUILDERS[name](variant, **arguments)``."""
    return {"builder": name, "variant": variant, "arguments": _plain(arguments)}


def converted(model, conversion):
    """The recipe of ``convert(model, **conversion)``: the model's, one
    conversion longer (None when the model has none)."""
    recipe = recipe_of(model)
    if recipe is None:
        return None
    return {**recipe, "conversions": recipe.get("conversions", []) + [_plain(conversion)]}


def _plain(value):
    """``value`` with tuples as lists and NumPy scalars as Python numbers (a
    value JSON cannot hold stays, so `record` refuses the recipe)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return value.item()
    return value
