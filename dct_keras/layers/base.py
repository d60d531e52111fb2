"""Shared base of the layers whose kernel lives in the DCT domain.

`SpectralKernelLayer` is a mixin placed before a Keras layer class
(``class DCTConv2D(..., SpectralKernelLayer, keras.layers.Conv2D)``): the Keras
layer keeps its call, padding, strides, output-shape logic and config; the mixin
replaces the stored kernel by a `SpectralWeight` and exposes

* ``coefficients`` – the trainable DCT coefficients (Keras kernel layout);
* ``mask`` – the 0/1 mask tensor of those coefficients;
* ``kernel`` – a property, ``IDCT(coefficients * mask)``, which the Keras
  layer's ``call`` reads as its kernel.

A concrete layer combines this mixin, a spectral family (which implements
`_kernel_transform` and `_initial_kernel_mask`), a geometry mixin from
`dct_keras.layers.geometry` (`_input_channels`, `_kernel_shape`,
`_output_axis`) and the Keras layer. The bias is a plain Keras weight; a family
may override `_build_bias` to keep it in the frequency domain too.
"""

import inspect

from keras import constraints, initializers, layers, ops

from dct_keras.spectral.weight import SpectralWeight


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


def _normalized(name, value):
    """An argument's value in a comparable form (initializers and constraints
    as their serialized config: a saved config spells the default that way)."""
    for suffix, module in (("_initializer", initializers), ("_constraint", constraints)):
        if name.endswith(suffix) and value is not None:
            return module.serialize(module.get(value))
    return value


class SpectralLayer:
    """What every spectral layer of the library is: the model walker
    (`dct_keras.spectral_layers`) finds layers by this base, `fold` turns
    each into the plain Keras layer it stands for and `convert` builds it
    from one. A layer declares this once:

    * `plain_class` – the Keras layer it stands for (default: the first
      Keras layer class it derives from);
    * `plain_config` / `plain_weights` – that layer's config and weights,
      with identical outputs (fold);
    * `config_from_plain` / `set_from_plain` – the reverse (convert);
    * ``spectral_weights`` – its `SpectralWeight`s (none for a fixed basis).
    """

    family = None
    # Whether `convert(model, to=family)` replaces this layer's plain class
    # unless told otherwise (its ``dense`` argument for `Dense`).
    convert_by_default = True
    # Config keys the plain Keras layer does not have (dropped by `fold`).
    spectral_config_keys = ()
    # Arguments of the Keras layer built on that this layer does not honour:
    # refused unless left at Keras's default (`refuse_unhonoured`).
    unhonoured_arguments = ("lora_rank", "lora_alpha", "enable_dora", "quantization_config")

    @classmethod
    def refuse_unhonoured(cls, kwargs):
        """Raises a Keras-style ``ValueError`` naming the first argument of
        ``kwargs`` this layer does not honour, unless it has Keras's default."""
        defaults = {}
        for klass in reversed(cls.__mro__):
            if klass.__module__.startswith("keras.") and "__init__" in vars(klass):
                defaults.update({name: parameter.default for name, parameter in inspect.signature(klass.__init__).parameters.items()
                                 if parameter.default is not inspect.Parameter.empty})
        for name in cls.unhonoured_arguments:
            if name in kwargs and _normalized(name, kwargs[name]) != _normalized(name, defaults.get(name)):
                raise ValueError(f"Argument `{name}` is not supported by `{cls.__name__}` (its kernel is computed from "
                                 f"spectral coefficients, which this option would not reach); received {name}={kwargs[name]!r}.")

    @classmethod
    def plain_class(cls):
        return next(c for c in cls.__mro__ if c.__module__.startswith("keras.") and c.__name__ != "Layer")

    @property
    def spectral_weights(self):
        return []

    # Defaults for a layer that wraps its plain Keras layer (same config less
    # `spectral_config_keys`, a ``kernel`` property and a ``bias``).
    def plain_config(self):
        return {k: v for k, v in self.get_config().items() if k not in self.spectral_config_keys}

    def plain_weights(self):
        if not self.built:
            raise AttributeError("You must build the layer before accessing `plain_weights`.")
        return [ops.convert_to_numpy(self.kernel)] + ([ops.convert_to_numpy(self.bias)] if self.use_bias else [])

    @classmethod
    def config_from_plain(cls, layer, **options):
        return {**layer.get_config(), **options}

    def set_from_plain(self, layer):
        raise NotImplementedError

    # The wrapped Keras layers save their materialized kernel; a spectral
    # layer saves the variables it owns (coefficients, masks, orders, bias).
    def save_own_variables(self, store):
        layers.Layer.save_own_variables(self, store)

    def load_own_variables(self, store):
        layers.Layer.load_own_variables(self, store)

    def enable_lora(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not support LoRA.")


class SpectralKernelLayer(SpectralLayer):
    """Mixin: a Keras layer whose kernel is the IDCT of masked coefficients."""

    def _kernel_transform(self, kernel_shape):
        """The `SpectralTransform` from coefficients to kernel."""
        raise NotImplementedError

    def _initial_kernel_mask(self, transform):
        """Boolean NumPy mask of the coefficients at build time."""
        raise NotImplementedError

    def build(self, input_shape):
        kernel_shape = self._kernel_shape(self._input_channels(input_shape))
        # Validates the input shape (e.g. output dimensions must be positive).
        self.compute_output_shape(input_shape)
        transform = self._kernel_transform(kernel_shape)
        self.spectral_kernel = SpectralWeight(
            self,
            "coefficients",
            transform,
            self._initial_kernel_mask(transform),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self._build_bias(kernel_shape[self._output_axis])
        self.built = True

    def _build_bias(self, size):
        self.bias = self._plain_bias(size) if self.use_bias else None

    def _plain_bias(self, size):
        return self.add_weight(
            name="bias",
            shape=(size,),
            initializer=self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
            trainable=True,
            dtype=self.dtype,
        )

    @property
    def spectral_weights(self):
        """The layer's `SpectralWeight`s (used by callbacks, export, counting)."""
        self._require_built("spectral_weights")
        return [self.spectral_kernel]

    @property
    def coefficients(self):
        """The trainable DCT coefficients (Keras kernel layout)."""
        self._require_built("coefficients")
        return self.spectral_kernel.coefficients

    @property
    def mask(self):
        """The coefficient mask as a 0/1 tensor (1 = kept, 0 = switched off)."""
        self._require_built("mask")
        return self.spectral_kernel.mask

    @property
    def kernel(self):
        """The spatial kernel in Keras layout: ``IDCT(coefficients * mask)``."""
        self._require_built("kernel")
        return self.spectral_kernel.value()

    def set_kernel(self, kernel):
        """Sets the coefficients to the (masked) forward DCT of ``kernel``."""
        self._require_built("set_kernel")
        self.spectral_kernel.assign_spatial(kernel)

    def set_bias(self, bias):
        """Sets the bias from its spatial values."""
        self.bias.assign(bias)

    def set_from_plain(self, layer):
        self.set_kernel(ops.convert_to_numpy(layer.kernel))
        if self.use_bias:
            self.set_bias(ops.convert_to_numpy(layer.bias))

    def _require_built(self, what):
        if not self.built:
            raise AttributeError(f"You must build the layer before accessing `{what}`.")

    def load_own_variables(self, store):
        super().load_own_variables(store)
        for spectral_weight in self.spectral_weights:
            spectral_weight.refresh_extents()
