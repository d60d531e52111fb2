"""Every argument a spectral layer inherits from its Keras layer is either
honoured or refused: a test over the Keras classes' ``__init__`` signatures,
so an argument a new Keras version adds fails here until it is classified."""

import inspect

import keras
import pytest

import dct_keras

# What the spectral layers honour of their Keras layer (the call, the bias,
# the layer's bookkeeping, and the kernel arguments acting on the coefficients).
HONOURED = {
    "rank", "filters", "units", "kernel_size", "strides", "padding", "output_padding", "data_format", "dilation_rate",
    "groups", "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
    "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint", "trainable", "dtype", "autocast",
    "name",
}
LAYERS = [dct_keras.DCTConv2D, dct_keras.DCTConv2DTranspose, dct_keras.DCTDense, dct_keras.FreqRegConv2D,
          dct_keras.FreqRegConv2DTranspose, dct_keras.FreqRegDense, dct_keras.ReorderDCTConv2D, dct_keras.ReorderDCTDense]
REQUIRED = {"filters": 4, "kernel_size": 3, "units": 4}
NON_DEFAULT = {"lora_rank": 2, "lora_alpha": 2.0, "enable_dora": True, "quantization_config": object(),
               "kernel_initializer": "ones", "kernel_constraint": "non_neg", "groups": 2}


def _inherited(layer_class):
    names = set()
    for klass in layer_class.__mro__:
        if klass.__module__.startswith("keras.") and "__init__" in vars(klass):
            names |= {n for n, p in inspect.signature(klass.__init__).parameters.items()
                      if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return names


@pytest.mark.parametrize("layer_class", LAYERS, ids=lambda c: c.__name__)
def test_every_inherited_argument_is_honoured_or_refused(layer_class):
    refused = set(layer_class.refused_arguments())
    unclassified = _inherited(layer_class) - (HONOURED - refused) - refused
    assert not unclassified, f"{layer_class.__name__}: classify {sorted(unclassified)} (honour it, or refuse it)"
    required = {k: v for k, v in REQUIRED.items() if k in _inherited(layer_class)}
    for name in sorted(refused & _inherited(layer_class)):
        with pytest.raises(ValueError, match=f"Argument `{name}` is not supported by `{layer_class.__name__}`"):
            layer_class(**required, **{name: NON_DEFAULT[name]})
    if "lora_rank" in _inherited(layer_class):  # Keras's default, as a plain layer's config carries it, is accepted
        layer_class(**required, lora_rank=None)


@pytest.mark.parametrize("layer_class", LAYERS + [dct_keras.HarmonicConv], ids=lambda c: c.__name__)
def test_a_public_layer_is_itself_one_base_of_ours_and_its_keras_layer(layer_class):
    # The coefficient-coded layers on SpectralLayer, the harmonic block on the protocol alone.
    base = dct_keras.layers.base
    ours = [klass for klass in layer_class.__mro__ if klass.__module__.startswith("dct_keras")]
    expected = [base.FamilyLayer] if layer_class is dct_keras.HarmonicConv else [base.SpectralLayer, base.FamilyLayer]
    assert ours == [layer_class, *expected]
    keras_layer = layer_class.__mro__[len(ours)]
    assert layer_class.__mro__[len(ours):] == keras_layer.__mro__


def test_harmonic_blocks_refuse_what_they_do_not_take():
    with pytest.raises((TypeError, ValueError), match="lora_rank"):
        dct_keras.HarmonicConv(4, 3, lora_rank=2)
    assert set(inspect.signature(keras.layers.Layer.__init__).parameters) - {"self", "kwargs"} <= HONOURED


def test_compressing_a_plain_network_with_its_own_initializers_and_constraints_works(rng):
    from dct_keras.compression import compress

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3)(inputs)  # the first layer stays plain (the paper's default skip)
    x = keras.layers.Conv2D(8, 3, kernel_initializer="he_normal", kernel_constraint="max_norm")(x)
    model = keras.Model(inputs, keras.layers.Dense(4, kernel_initializer="he_normal")(keras.layers.Flatten()(x)))
    compressed = compress(model, rows=2, compression_rate=2, progress=False)
    assert [type(layer).__name__ for layer in dct_keras.spectral_layers(compressed)] == ["ReorderDCTConv2D", "ReorderDCTDense"]
    assert all(layer.kernel_constraint is None for layer in dct_keras.spectral_layers(compressed))
