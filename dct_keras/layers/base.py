"""`SpectralLayer`: the one base of every spectral layer of the library.

A public layer is ``class DCTConv2D(SpectralLayer, keras.layers.Conv2D)``
with ``coding = DCTCoding``: the Keras layer keeps its arguments, output
shape and config; the layer's *coding* (one object per layer, from
`dct_keras.spectral.families`) takes the family's arguments, builds the
weights and says how the kernel is coded. This base

* splits the constructor's arguments between the coding and the Keras layer,
  refusing the Keras arguments the layer does not honour (`refuse_unhonoured`);
* builds the kernel (``spectral_kernel``: a `SpectralWeight` or a
  `ReorderedWeight`) and the bias through the coding, for the kernel layout
  of the Keras layer (`GEOMETRIES`, data);
* calls: the kernel is computed once per call, with the coding's training
  perturbation passed explicitly in a training call, and applied as the
  Keras layer applies its kernel;
* exposes ``kernel`` (the clean kernel), ``bias``, ``coefficients``, ``mask``
  and the family's arguments (``layer.switch_off`` is
  ``layer.coding.switch_off``; reorder-DCT's ``layer.order`` is its kernel's);
* declares how `fold` and `convert` map it to and from its plain Keras layer.
"""

import dataclasses
import inspect
import math
from typing import Callable

from keras import constraints, initializers, layers, ops

from dct_keras.spectral.channels import ASSUMED_BATCH, activation_axes
from dct_keras.spectral.coded import CodedWeight
from dct_keras.spectral.weight import SpectralWeight

# The weights a spectral layer computes on use (anything else it holds is a Keras variable).
COMPUTED_WEIGHTS = (SpectralWeight, CodedWeight)

# family name -> {plain Keras layer class: spectral layer class}; filled by
# `register_family`, read by `dct_keras.convert` and the models' `LayerFactory`.
FAMILIES = {}


def register_family(family):
    """Class decorator: ``cls`` is ``family``'s spectral version of its
    `plain_class` (what `convert(model, to=family)` turns that class into)."""

    def decorate(cls):
        FAMILIES.setdefault(family, {})[cls.plain_class()] = cls
        cls.family = family
        return cls

    return decorate


@dataclasses.dataclass(frozen=True)
class KernelGeometry:
    """How a Keras layer lays out and applies its kernel.

    ``rank`` leading spatial axes; ``input_axis`` / ``output_axis``: the
    kernel axes of the input / output channels; ``paper_axes``: the transpose
    to the (out, in, spatial...) order of the papers; ``kernel_shape(layer,
    input_channels)``; ``apply(layer, inputs, kernel)``: the layer's linear op
    (bias and activation are added by `SpectralLayer.call`).
    """

    rank: int
    input_axis: int
    output_axis: int
    paper_axes: tuple
    kernel_shape: Callable
    apply: Callable


def _conv_kernel_shape(layer, channels):
    if channels % layer.groups:
        raise ValueError(f"The number of input channels must be evenly divisible by the number of groups. Received "
                         f"groups={layer.groups}, but the input has {channels} channels.")
    return layer.kernel_size + (channels // layer.groups, layer.filters)


def _conv_transpose(layer, inputs, kernel):
    return ops.conv_transpose(inputs, kernel, strides=list(layer.strides), padding=layer.padding,
                              output_padding=layer.output_padding, dilation_rate=layer.dilation_rate,
                              data_format=layer.data_format)


GEOMETRIES = {
    layers.Conv2D: KernelGeometry(2, 2, 3, (3, 2, 0, 1), _conv_kernel_shape,
                                  lambda layer, inputs, kernel: layer.convolution_op(inputs, kernel)),
    layers.Conv2DTranspose: KernelGeometry(2, 3, 2, (2, 3, 0, 1),
                                           lambda layer, channels: layer.kernel_size + (layer.filters, channels),
                                           _conv_transpose),
    layers.Dense: KernelGeometry(0, 0, 1, (1, 0), lambda layer, channels: (channels, layer.units),
                                 lambda layer, inputs, kernel: ops.matmul(inputs, kernel)),
}


def _normalized(name, value):
    """An argument's value in a comparable form (initializers and constraints
    as their serialized config: a saved config spells the default that way)."""
    for suffix, module in (("_initializer", initializers), ("_constraint", constraints)):
        if name.endswith(suffix) and value is not None:
            return module.serialize(module.get(value))
    return value


class FamilyLayer:
    """The protocol every layer of a spectral family follows, whatever it
    computes: its family's arguments live in a *coding* (one object per
    layer, validated before Keras's arguments), and `fold` / `convert` map it
    to and from the plain Keras layer it stands for. The walker
    (`dct_keras.spectral_layers`) finds layers by this base.

    A layer implements the four conversions: `plain_config` and
    `plain_weights` (fold: a `plain_class` layer with identical outputs),
    `config_from_plain` (convert: this layer's config for a plain layer, or
    None when it cannot express that layer) and `set_from_plain`.
    `SpectralLayer` implements them for a kernel coded as masked
    coefficients; `HarmonicConv` (a fixed filter bank and a learned 1x1)
    for itself.
    """

    coding = None
    family = None
    # Whether `convert(model, to=family)` replaces this layer's plain class
    # unless told otherwise (its ``dense`` argument for `Dense`).
    convert_by_default = True
    # Arguments of the Keras layer that no spectral layer honours (the
    # coding adds its own): refused unless left at Keras's default.
    unhonoured_arguments = ("lora_rank", "lora_alpha", "enable_dora", "quantization_config")

    def __init__(self, *args, **kwargs):
        coding_class = type(self).coding
        self.refuse_unhonoured(kwargs)
        own = {name: kwargs.pop(name) for name in coding_class.arguments if name in kwargs}
        coding = coding_class(**own)  # validates the family's arguments before Keras's
        super().__init__(*args, **kwargs)
        self.coding = coding
        self.perturbation_seed = getattr(coding, "seed_generator", lambda: None)()

    def __getattr__(self, name):
        # Only reached when normal lookup fails: the family's arguments, and
        # what the coding names of the built kernel (reorder-DCT's `order`).
        coding = self.__dict__.get("coding")
        if coding is not None and name in type(coding).arguments:
            return getattr(coding, name)
        if coding is not None and name in getattr(type(coding), "kernel_attributes", ()) and "spectral_kernel" in self.__dict__:
            return getattr(self.__dict__["spectral_kernel"], name)
        parent = getattr(super(), "__getattr__", None)  # torch.nn.Module's, on the PyTorch backend
        if parent is not None:
            return parent(name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    @classmethod
    def refused_arguments(cls):
        """The Keras layer's arguments this layer refuses unless left at
        Keras's default."""
        return cls.unhonoured_arguments + cls.coding.unhonoured_arguments

    @classmethod
    def refuse_unhonoured(cls, kwargs):
        """Raises a Keras-style ``ValueError`` naming the first argument of
        ``kwargs`` this layer does not honour, unless it has Keras's default."""
        defaults = {}
        for klass in reversed(cls.__mro__):
            if klass.__module__.startswith("keras.") and "__init__" in vars(klass):
                defaults.update({name: parameter.default
                                 for name, parameter in inspect.signature(klass.__init__).parameters.items()
                                 if parameter.default is not inspect.Parameter.empty})
        for name in cls.refused_arguments():
            if name in kwargs and _normalized(name, kwargs[name]) != _normalized(name, defaults.get(name)):
                raise ValueError(f"Argument `{name}` is not supported by `{cls.__name__}` (its kernel is computed from "
                                 f"spectral coefficients, which this option would not reach); received {name}={kwargs[name]!r}.")

    @classmethod
    def plain_class(cls):
        """The Keras layer this layer stands for."""
        return next(c for c in cls.__mro__ if c.__module__.startswith("keras.") and c.__name__ != "Layer")

    @property
    def spectral_weights(self):
        """The layer's masked `SpectralWeight`s (used by callbacks, export,
        counting); none unless the layer has masked coefficients."""
        return []

    def _require_built(self, what):
        if not self.built:
            raise AttributeError(f"You must build the layer before accessing `{what}`.")

    # ------------------------------------------------ the fold / convert protocol
    def plain_config(self):
        """The config of `plain_class` computing this layer (fold)."""
        raise NotImplementedError

    def plain_weights(self):
        """The weights of `plain_config`'s layer (fold)."""
        raise NotImplementedError

    @classmethod
    def config_from_plain(cls, layer, rng=None, **options):
        """This layer's config for a plain Keras ``layer`` (convert), or None
        when this layer cannot express it (the plain layer stays); ``rng``
        (a NumPy generator) draws per-layer seeds the caller did not give."""
        raise NotImplementedError

    def set_from_plain(self, layer):
        """Sets the weights to express the plain ``layer``'s (convert)."""
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), **self.coding.get_config()}

    def transient_variables(self):
        """Variables only a training run uses (not saved, shipped or counted
        as parameters)."""
        return []

    def saved_variables(self):
        """The variables a saved model holds, in Keras's order (trainable,
        then non-trainable): all but the transient ones."""
        transient = {id(v) for v in self.transient_variables()}
        return [v for v in self._trainable_variables + self._non_trainable_variables if id(v) not in transient]

    # The Keras layers save their materialized kernel; a spectral layer saves
    # the variables it owns (coefficients, masks, orders, bias), as Keras's
    # `Layer` numbers them, without the transient ones.
    def save_own_variables(self, store):
        for i, variable in enumerate(self.saved_variables()):
            store[f"{i}"] = variable

    def load_own_variables(self, store):
        variables = self.saved_variables()
        if len(store.keys()) != len(variables):
            raise ValueError(f"Layer '{self.name}' expected {len(variables)} variables, but received "
                             f"{len(store.keys())} variables during loading. Expected: {[v.name for v in variables]}")
        for i, variable in enumerate(variables):
            variable.assign(store[f"{i}"])
        for spectral_weight in self.spectral_weights:
            spectral_weight.refresh_extents()

    def enable_lora(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not support LoRA.")


class SpectralLayer(FamilyLayer):
    """The base of every layer whose kernel is coded as masked coefficients
    (DCT-Conv, FreqReg, reorder-DCT; see the module docstring).

    A public layer sets ``coding`` (its family's coding class); the kernel
    and bias are built through it for the Keras layer's kernel geometry, and
    the fold / convert protocol of `FamilyLayer` is implemented here once.
    """

    @property
    def geometry(self):
        return GEOMETRIES[self.plain_class()]

    # ----------------------------------------------------------------- build
    def build(self, input_shape):
        channel_axis = 1 if getattr(self, "data_format", None) == "channels_first" else -1
        channels = input_shape[channel_axis]
        kernel_shape = self.geometry.kernel_shape(self, channels)
        self.compute_output_shape(input_shape)  # validates the input shape (e.g. positive outputs)
        self.input_spec = layers.InputSpec(min_ndim=self.geometry.rank + 2, axes={channel_axis: channels})
        self.spectral_kernel = self.coding.build_kernel(self, kernel_shape, self.geometry)
        self.bias_weight = self.coding.build_bias(self, kernel_shape[self.geometry.output_axis])
        self.built = True

    # ------------------------------------------------------------------ call
    def call(self, inputs, training=None):
        perturbation = self.coding.perturbation(self) if training else None
        loss = self.coding.training_loss(self) if training else None
        if loss is not None:
            self.add_loss(loss)
        weight, geometry = self.spectral_kernel, self.geometry
        moved = self._activation_axes(inputs)
        if not moved:
            outputs = geometry.apply(self, inputs, weight.value(perturbation))
        else:  # the DCT of these channel axes on the activations (`dct_keras.spectral.channels`)
            if geometry.input_axis in moved:
                factor = weight.transform.channel_factor(geometry.input_axis, weight.extents[geometry.input_axis])
                inputs = factor.apply_last(inputs, inverse=False)
            outputs = geometry.apply(self, inputs, weight.partial_value(moved, perturbation))
            if geometry.output_axis in moved:
                factor = weight.transform.channel_factor(geometry.output_axis, weight.extents[geometry.output_axis])
                outputs = factor.apply_last(outputs, inverse=True)
        bias = self.bias
        if bias is not None:
            if getattr(self, "data_format", None) == "channels_first":
                bias = ops.reshape(bias, (1, -1) + (1,) * self.geometry.rank)
            outputs = ops.add(outputs, bias)
        return self.activation(outputs) if self.activation is not None else outputs

    def _activation_axes(self, inputs):
        """The kernel channel axes whose DCT this call runs on the activations
        (`channel_transform`; channels-last, ungrouped layers only)."""
        mode = getattr(self.coding, "channel_transform", "kernel")
        weight, geometry = self.spectral_kernel, self.geometry
        if mode == "kernel" or not isinstance(weight, SpectralWeight) or getattr(self, "groups", 1) != 1 \
                or getattr(self, "data_format", "channels_last") != "channels_last":
            return ()
        shape = (ASSUMED_BATCH if inputs.shape[0] is None else inputs.shape[0],) + tuple(inputs.shape[1:])
        if None in shape:  # an unknown image size: no cost to compare
            if mode == "auto":
                return ()
            positions, window = (1, 1), 1
        else:
            positions = (math.prod(shape[:-1]), math.prod(self.compute_output_shape(shape)[:-1]))
            window = math.prod(weight.shape[: geometry.rank])
        return activation_axes(weight.transform, weight.extents, (geometry.input_axis, geometry.output_axis),
                               positions, window, mode)

    # ------------------------------------------------------------ accessors
    @property
    def kernel(self):
        """The kernel in Keras layout, computed from the stored coefficients
        (no training perturbation)."""
        self._require_built("kernel")
        return self.spectral_kernel.value()

    @property
    def bias(self):
        """The bias (the IDCT of its masked coefficients when the family keeps
        it spectral), or None."""
        self._require_built("bias")
        weight = self.bias_weight
        return weight.value() if isinstance(weight, COMPUTED_WEIGHTS) else weight

    @property
    def spectral_weights(self):
        """The layer's masked `SpectralWeight`s (used by callbacks, export,
        counting); none for reorder-DCT."""
        self._require_built("spectral_weights")
        return [w for w in (self.spectral_kernel, self.bias_weight) if isinstance(w, SpectralWeight)]

    def transient_variables(self):
        return self.coding.transient_variables(self) if self.built else []

    @property
    def coded_weights(self):
        """The layer's `CodedWeight`s (rate–distortion coding); none for the
        other families."""
        self._require_built("coded_weights")
        return [w for w in (self.spectral_kernel, self.bias_weight) if isinstance(w, CodedWeight)]

    @property
    def coefficients(self):
        """The trainable coefficients of the kernel."""
        self._require_built("coefficients")
        return self.spectral_kernel.coefficients

    @property
    def mask(self):
        """The kernel's coefficient mask as a 0/1 tensor (1 = kept)."""
        self._require_built("mask")
        return self.spectral_kernel.mask

    def set_kernel(self, kernel):
        """Sets the coefficients to the (masked) forward DCT of ``kernel``."""
        self._require_built("set_kernel")
        self.spectral_kernel.assign_spatial(kernel)

    def set_bias(self, bias):
        """Sets the bias from its spatial values."""
        weight = self.bias_weight
        weight.assign_spatial(bias) if isinstance(weight, COMPUTED_WEIGHTS) else weight.assign(bias)

    # ---------------------------------------------------------- fold/convert
    def plain_config(self):
        return {k: v for k, v in self.get_config().items() if k not in type(self).coding.arguments}

    def plain_weights(self):
        self._require_built("plain_weights")
        return [ops.convert_to_numpy(self.kernel)] + ([ops.convert_to_numpy(self.bias)] if self.use_bias else [])

    @classmethod
    def config_from_plain(cls, layer, rng=None, **options):
        seed = cls.coding.seed_argument
        seeds = {seed: int(rng.integers(0, 2**31 - 1))} if (
            rng is not None and seed is not None and seed not in options) else {}
        return {**layer.get_config(), **{name: None for name in cls.coding.dropped_from_plain}, **seeds, **options}

    def set_from_plain(self, layer):
        self.set_kernel(ops.convert_to_numpy(layer.kernel))
        if self.use_bias:
            self.set_bias(ops.convert_to_numpy(layer.bias))
