"""Every registered technique through its declaration alone (backend-agnostic):
the model it makes of a trained network, its callbacks, its checks."""

import keras
import numpy as np
import pytest

import dct_keras
from dct_keras.experiment.errors import ConfigError
from dct_keras.experiment.techniques import Context, Technique, register, registered, technique, unregister

CONFIG = {"tail_dropout": {"gamma": 0.5, "min_kept": 1, "schedule": "static"},
          "rate_proxy": {"q": 0.1, "sharpness": 10, "block": 16, "warmup_epochs": 2},
          "rate_distortion": {"warmup_epochs": 3, "log_speed": 10}}


def _plain(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
                             keras.layers.Conv2D(4, 3, padding="same"), keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(3)])


def _context(trained=None, steps=10):
    return Context(CONFIG, lambda variant: _plain(), trained, steps)


def _inputs():
    return np.random.default_rng(0).standard_normal((4, 8, 8, 2)).astype("float32")


def test_the_registry_holds_every_technique_once():
    assert list(registered()) == ["plain", "plain_finetuned", "pruning", "dct_conv", "freqreg", "harmonic", "reorder",
                                  "ctnet", "rd"]
    with pytest.raises(ValueError, match="already registered"):
        register(registered()["plain"])
    with pytest.raises(KeyError, match="the techniques are"):
        technique("nope")
    with pytest.raises(TypeError):
        register(object())


def test_budgets_and_sections_are_checked():
    with pytest.raises(ConfigError, match="takes no budget"):
        technique("plain").check(CONFIG, [0.5], "c.json")
    with pytest.raises(ConfigError, match="numbers > 0"):
        technique("pruning").check(CONFIG, [-0.5], "c.json")
    with pytest.raises(ConfigError, match="numbers > 0"):
        technique("pruning").check(CONFIG, [True], "c.json")
    with pytest.raises(ConfigError, match="`tail_dropout`"):
        technique("freqreg").check({}, [0.1], "c.json")
    technique("ctnet").check(CONFIG, [1e-3], "c.json")
    assert technique("freqreg").setting(0.05) == "freqreg-kept_fraction0.05" and technique("plain").setting(None) == "plain"
    assert technique("reorder").label(8) == "compression_rate 8" and technique("plain").label(None) == "—"


@pytest.mark.parametrize("name", ["plain", "plain_finetuned", "pruning"])
def test_techniques_that_keep_the_network_return_it(name):
    trained = _plain(1)
    assert technique(name).model(_context(trained), 0.5 if name == "pruning" else None, 0) is trained


def test_pruning_reaches_its_sparsity_at_70_percent_of_the_steps():
    (pruning,) = technique("pruning").callbacks(_context(steps=100), 0.9, 0)
    assert type(pruning).__name__ == "MagnitudePruning" and pruning.end_step == 70 and pruning.frequency == 3


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_dct_conv_switches_off_p_of_the_trained_networks_coefficients(p):
    trained = _plain(2)
    model = technique("dct_conv").model(_context(trained), p, seed=3)
    layers = dct_keras.spectral_layers(model)
    assert [type(layer).__name__ for layer in layers] == ["DCTConv2D", "DCTConv2D", "DCTDense"]
    for layer in layers:
        mask = layer.spectral_kernel.mask_numpy()
        assert (~mask).sum() == int(np.floor(p * mask.size + 0.5))  # the exact count (masks.switch_off_mask)
    if p == 0:  # nothing off: the trained network's function
        np.testing.assert_allclose(model.predict(_inputs(), verbose=0), trained.predict(_inputs(), verbose=0), atol=1e-5)


def test_freqreg_converts_with_weights_and_drives_the_tail_towards_its_budget():
    trained = _plain(4)
    model = technique("freqreg").model(_context(trained), 0.2, 0)
    assert all(layer.family == "freqreg" for layer in dct_keras.spectral_layers(model))
    np.testing.assert_allclose(model.predict(_inputs(), verbose=0), trained.predict(_inputs(), verbose=0), atol=1e-5)
    (tail,) = technique("freqreg").callbacks(_context(), 0.2, 7)
    assert (tail.epsilon, tail.gamma, tail.schedule, tail.seed) == (0.2, 0.5, "static", 7)
    scratch = technique("freqreg").model(Context(CONFIG, lambda variant: variant), 0.2, 0)
    assert scratch == "freqreg"  # from scratch: the architecture's FreqReg variant


def test_harmonic_expresses_the_trained_kernels_with_every_level():
    trained = _plain(5)
    model = technique("harmonic").model(_context(trained), 5, 0)  # u + v < 5: all nine 3x3 filters
    assert [type(layer).__name__ for layer in dct_keras.spectral_layers(model)] == ["HarmonicConv", "HarmonicConv"]
    np.testing.assert_allclose(model.predict(_inputs(), verbose=0), trained.predict(_inputs(), verbose=0), atol=1e-4)


def test_reorder_compresses_the_trained_network():
    trained = _plain(6)
    model = technique("reorder").model(_context(trained), 4, 0)
    assert technique("reorder").needs_trained and dct_keras.count_params(model).total < dct_keras.count_params(trained).total
    # Both still run: the compressed model holds copies (JAX donates a predict's buffers).
    assert np.isfinite(model.predict(_inputs(), verbose=0)).all() and np.isfinite(trained.predict(_inputs(), verbose=0)).all()


def test_ctnet_puts_the_rate_proxy_on_every_coefficient_tensor_and_warms_it_up():
    model = technique("ctnet").model(_context(_plain(7)), 1e-3, 0)
    proxies = [layer.kernel_regularizer for layer in dct_keras.spectral_layers(model)]
    assert proxies and all(type(p).__name__ == "H265RateProxy" and p.strength == pytest.approx(1e-3) for p in proxies)
    (warmup,) = technique("ctnet").callbacks(_context(), 1e-3, 0)
    assert type(warmup).__name__ == "RateWarmup" and warmup.warmup_epochs == 2
    assert technique("ctnet").extra_points == ("h265",)


def test_rate_distortion_weights_lambda_per_parameter_and_ships_once():
    trained = _plain(8)
    model = technique("rd").model(_context(trained), 5.0, 0)
    layers = dct_keras.spectral_layers(model)
    total = dct_keras.count_params(trained).total
    assert [type(layer).__name__ for layer in layers] == ["RDConv2D", "RDConv2D", "RDDense"]
    assert all(layer.rate_weight == pytest.approx(5.0 / total) and layer.log_speed == 10 for layer in layers)
    assert all(layer.rate_interval == 1 for layer in layers)  # a section without `rate_interval`: every step
    lagged = technique("rd").model(Context({**CONFIG, "rate_distortion": {**CONFIG["rate_distortion"], "rate_interval": 8}},
                                           lambda variant: _plain(), trained, 10), 5.0, 0)
    assert all(layer.rate_interval == 8 for layer in dct_keras.spectral_layers(lagged))
    # Converted with its weights: the outputs stay within the quantization.
    reference = trained.predict(_inputs(), verbose=0)
    assert np.abs(model.predict(_inputs(), verbose=0) - reference).max() < 0.05 * np.abs(reference).max()
    (warmup,) = technique("rd").callbacks(_context(), 5.0, 0)
    assert type(warmup).__name__ == "RateWarmup" and warmup.warmup_epochs == 3
    assert technique("rd").codes_itself and not technique("pruning").codes_itself
    with pytest.raises(ConfigError, match="`rate_distortion`"):
        technique("rd").check({}, [5.0], "c.json")
    for key, value in (("rate_interval", 0), ("log_speed", 0)):
        with pytest.raises(ConfigError, match=f"`rate_distortion.{key}` must be"):
            technique("rd").check({"rate_distortion": {**CONFIG["rate_distortion"], key: value}}, [5.0], "c.json")


def test_a_new_technique_is_one_registration():
    class Identity(Technique):
        name = "identity_test"

        def model(self, context, budget, seed):
            return context.source()

    register(Identity())
    try:
        assert registered()["identity_test"].model(_context(), None, 0).layers
    finally:
        unregister("identity_test")
    assert "identity_test" not in registered()
