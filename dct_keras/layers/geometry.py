"""Kernel geometry of the Keras layers that spectral layers wrap.

One small mixin per wrapped Keras layer says how its kernel is laid out, so
each spectral family (DCT-Conv, FreqReg) reuses it instead of restating it:
the kernel shape for a number of input channels, which kernel axis holds the
input channels, which holds the outputs, and the input spec to set in build.
"""

from keras.layers import InputSpec


class _ConvGeometry:
    def _input_channels(self, input_shape):
        channel_axis = -1 if self.data_format == "channels_last" else 1
        channels = input_shape[channel_axis]
        self.input_spec = InputSpec(min_ndim=self.rank + 2, axes={channel_axis: channels})
        return channels


class Conv2DGeometry(_ConvGeometry):
    """`keras.layers.Conv2D`: kernel ``(kh, kw, in // groups, filters)``."""

    _input_channel_axis = 2
    _output_axis = 3

    def _kernel_shape(self, input_channels):
        if input_channels % self.groups:
            raise ValueError(
                "The number of input channels must be evenly divisible by the "
                f"number of groups. Received groups={self.groups}, but the "
                f"input has {input_channels} channels."
            )
        return self.kernel_size + (input_channels // self.groups, self.filters)


class Conv2DTransposeGeometry(_ConvGeometry):
    """`keras.layers.Conv2DTranspose`: kernel ``(kh, kw, filters, in)``."""

    _input_channel_axis = 3
    _output_axis = 2

    def _kernel_shape(self, input_channels):
        return self.kernel_size + (self.filters, input_channels)


class DenseGeometry:
    """`keras.layers.Dense`: kernel ``(in, units)``."""

    _input_channel_axis = 0
    _output_axis = 1

    def _input_channels(self, input_shape):
        channels = input_shape[-1]
        self.input_spec = InputSpec(min_ndim=2, axes={-1: channels})
        return channels

    def _kernel_shape(self, input_channels):
        return (input_channels, self.units)
