"""Schedules applied by Keras callbacks: dynamic tail-dropout (FreqReg), the
warm-up of a rate term (CTNet's H.265 rate proxy, rate–distortion layers),
and global magnitude pruning (the baseline of the accuracy-vs-bytes
frontier)."""

import numbers

import keras
import numpy as np

from dct_keras.framework import sync_training_state
from dct_keras.spectral.masks import check_probability, kept_count
from dct_keras.surgery import is_spectral, spectral_layers, walk_layers

SCHEDULES = ("dynamic", "static", "random")
LAYER_KINDS = ("conv", "dense", "transpose")


class TailDropout(keras.callbacks.Callback):
    """Dynamic tail-dropout (frequency_regularization.txt §3.1).

    After every training epoch but the last of a `fit` call, each spectral
    weight's kept fraction follows ``beta_n = beta_{n-1} - gamma * (beta_{n-1}
    - epsilon)`` and its mask keeps the ``max(round(beta_n * n), min_kept)``
    lowest-frequency coefficients (zigzag order over the transformed axes);
    epoch ``n + 1`` trains under that mask. No update follows the last
    epoch: the model `fit` returns is the model it trained, and its History
    (the epoch logs) describes it. The same instance given to the next `fit`
    call applies that deferred update when the call begins, so a schedule
    split over calls (``fit(epochs=N, initial_epoch=e)`` one epoch at a time,
    as the experiment runner does) follows the formula; a fresh instance
    continues from the masks as they are (they are saved with the model).

    It drives the layers of the FreqReg family (`FreqRegConv2D`,
    `FreqRegConv2DTranspose`, `FreqRegDense`) only: a `DCTConv2D`'s random
    switch-off is that layer's method and stays as built. ``layer_names``
    chooses layers explicitly, of any spectral family.

    Being a callback, it acts only inside `fit`: `evaluate` and `predict`
    never advance it. ``beta`` is stored in each weight's ``kept_fraction``
    variable, so it is saved with the model and in checkpoints and a resumed
    run continues the schedule. At every epoch end it writes the kept
    fraction the epoch trained with, ``kept_fraction/<layer>`` and
    ``nonzero/<layer>`` (and the model-wide ``kept_fraction`` /
    ``nonzero``), into the epoch logs, which the History callback and a
    `keras.callbacks.TensorBoard` placed *after* it record.

    Schedules, to compare on one model:

    * ``"dynamic"`` – the schedule above (the paper);
    * ``"static"`` – the zigzag tail at ``epsilon`` from the first epoch;
    * ``"random"`` – as DCT-Conv's random switch-off: a random subset of
      ``round(epsilon * n)`` coefficients (seeded), from the first epoch.

    Args:
        gamma: float in (0, 1], the speed of the schedule (paper: 0.01).
        epsilon: float in [0, 1], the final kept fraction.
        min_kept: int >= 0, never keep fewer coefficients per weight; or a
            dict of floors per layer kind, ``{"conv": 127, "dense": 255,
            "transpose": 31}`` (the reference training code's floors).
        schedule: "dynamic", "static" or "random".
        seed: seed of the "random" schedule.
        layer_names: optional names of the layers to drive (default: every
            layer of the FreqReg family).
    """

    def __init__(self, gamma=0.01, epsilon=0.01, min_kept=1, schedule="dynamic", seed=0, layer_names=None):
        super().__init__()
        if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not 0 < gamma <= 1:
            raise ValueError(f"Invalid value for argument `gamma`: expected a number in (0, 1], received {gamma!r}.")
        check_probability(epsilon, "epsilon")
        floors = min_kept.values() if isinstance(min_kept, dict) else [min_kept]
        if (isinstance(min_kept, dict) and set(min_kept) - set(LAYER_KINDS)) or any(
            isinstance(f, bool) or not isinstance(f, numbers.Integral) or f < 0 for f in floors
        ):
            raise ValueError(f"Invalid value for argument `min_kept`: expected an integer >= 0 or a dict of them keyed by "
                             f"{LAYER_KINDS}, received {min_kept!r}.")
        if schedule not in SCHEDULES:
            raise ValueError(f"Invalid value for argument `schedule`: expected one of {SCHEDULES}, received {schedule!r}.")
        self.gamma = float(gamma)
        self.epsilon = float(epsilon)
        self.min_kept = dict(min_kept) if isinstance(min_kept, dict) else int(min_kept)
        self.schedule = schedule
        self.seed = seed
        self.layer_names = None if layer_names is None else set(layer_names)
        self.deferred = False  # an update due after the last epoch of the previous `fit` call

    def spectral_layers(self):
        """The model's layers with spectral weights that this callback drives."""
        found = [layer for layer in spectral_layers(self.model) if layer.spectral_weights and (
            layer.family == "freqreg" if self.layer_names is None else layer.name in self.layer_names)]
        if not found:
            raise ValueError("TailDropout found no layers to drive in this model: it drives the FreqReg layers "
                             "(FreqRegConv2D, FreqRegConv2DTranspose, FreqRegDense), or the spectral layers named in "
                             "`layer_names`.")
        return found

    def on_train_begin(self, logs=None):
        if self.schedule == "dynamic":
            if self.deferred:
                self.deferred = False
                self._advance()
            return
        changed = False
        for index, layer in enumerate(self.spectral_layers()):
            for j, weight in enumerate(layer.spectral_weights):
                if float(weight.kept_fraction) <= self.epsilon:
                    continue  # already applied (e.g. a resumed run)
                kept = kept_count(weight.size, self.epsilon, self.floor(layer))
                if self.schedule == "static":
                    mask = weight.zigzag_mask(kept)
                else:
                    order = np.random.default_rng([self.seed, index, j]).permutation(weight.size)
                    mask = np.zeros(weight.size, bool)
                    mask[order[:kept]] = True
                    mask = mask.reshape(weight.shape)
                changed |= weight.set_mask(mask, kept_fraction=self.epsilon, optimizer=self.model.optimizer)
        self._after_update(changed)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.kept_logs())  # the masks this epoch trained with
        if self.schedule != "dynamic":
            return
        if epoch + 1 >= self.params.get("epochs", epoch + 2):
            self.deferred = True  # fit returns the model it trained
            return
        self._advance()

    def _advance(self):
        """One step of the dynamic schedule on every driven weight."""
        changed = False
        for layer in self.spectral_layers():
            for weight in layer.spectral_weights:
                beta = float(weight.kept_fraction)
                beta -= self.gamma * (beta - self.epsilon)
                kept = kept_count(weight.size, beta, self.floor(layer))
                changed |= weight.set_mask(weight.zigzag_mask(kept), kept_fraction=beta, optimizer=self.model.optimizer)
        self._after_update(changed)

    def floor(self, layer):
        """The minimum kept count of ``layer``'s weights."""
        if not isinstance(self.min_kept, dict):
            return self.min_kept
        kind = ("transpose" if isinstance(layer, keras.layers.Conv2DTranspose)
                else "dense" if isinstance(layer, keras.layers.Dense) else "conv")
        return self.min_kept.get(kind, 0)

    def kept_logs(self):
        """Kept fraction and non-zero count per layer and for the model."""
        logs, total, kept = {}, 0, 0
        for layer in self.spectral_layers():
            layer_total = sum(w.size for w in layer.spectral_weights)
            layer_kept = sum(w.active_count() for w in layer.spectral_weights)
            logs[f"kept_fraction/{layer.name}"] = layer_kept / layer_total
            logs[f"nonzero/{layer.name}"] = layer_kept
            total += layer_total
            kept += layer_kept
        logs["kept_fraction"] = kept / total
        logs["nonzero"] = kept
        return logs

    def _after_update(self, extents_changed):
        # Traced train / test / predict functions baked in the old kept block.
        if extents_changed:
            self.model.make_train_function(force=True)
            self.model.make_test_function(force=True)
            self.model.make_predict_function(force=True)


class RateWarmup(keras.callbacks.Callback):
    """Warm-up and logging of the rate terms of a model: the H.265 rate
    proxies of CTNet (ctnet_h265.txt) and the code lengths of rate–distortion
    layers (`dct_keras.layers.RDConv2D` and its family).

    At the start of epoch ``e`` (0-based) every rate term gets the factor
    ``min(1, (e + 1) / warmup_epochs)`` (a 5-epoch ramp by default): the
    ``warmup`` of every `H265RateProxy` used as a spectral layer's
    ``kernel_regularizer`` and of every rate–distortion layer. The factor
    follows from the epoch index alone, so a run resumed at epoch ``e``
    (``fit(initial_epoch=e)``) continues the ramp exactly. At each epoch end
    it logs, per layer and in total, ``rate/<layer>``: the rate in bits,
    before lambda (the proxy's estimate; a rate–distortion layer's code
    length of its rounded codes, what its shipped stream costs), and for the
    proxies ``quantized_nonzero/<layer>`` (coefficients with ``|w| >= q / 2``,
    non-zero after rounding to the step ``q``), which the History and a
    `keras.callbacks.TensorBoard` placed after it record.

    Args:
        warmup_epochs: int >= 1, the length E of the ramp.
    """

    def __init__(self, warmup_epochs=5):
        super().__init__()
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, numbers.Integral) or warmup_epochs < 1:
            raise ValueError(f"Invalid value for argument `warmup_epochs`: expected an integer >= 1, received {warmup_epochs!r}.")
        self.warmup_epochs = int(warmup_epochs)

    def proxies(self):
        """(layer, proxy, spectral weight) of every proxy-regularized layer."""
        from dct_keras.regularizers import H265RateProxy

        return [(layer, layer.kernel_regularizer, layer.spectral_kernel) for layer in spectral_layers(self.model)
                if isinstance(getattr(layer, "kernel_regularizer", None), H265RateProxy)]

    def coded_layers(self):
        """The rate–distortion layers of the model."""
        return [layer for layer in spectral_layers(self.model) if layer.family == "rd"]

    def on_epoch_begin(self, epoch, logs=None):
        proxies, coded = self.proxies(), self.coded_layers()
        if not proxies and not coded:
            raise ValueError("RateWarmup found no rate term in this model: no spectral layer with an H265RateProxy "
                             "kernel_regularizer and no rate-distortion layer.")
        factor = min(1.0, (epoch + 1) / self.warmup_epochs)
        changed = False
        for _, proxy, _ in proxies:
            changed |= float(keras.ops.convert_to_numpy(proxy.warmup)) != factor
            proxy.warmup.assign(factor)
        for layer in coded:  # a layer variable: a traced train step reads it
            layer.coding.warmup.assign(factor)
        # A proxy's factor is not a model variable: a jit-compiled JAX train
        # step holds the value it was traced with, so it is traced again.
        if changed and keras.backend.backend() == "jax":
            self.model.make_train_function(force=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.rate_logs())

    def rate_logs(self):
        logs, total_rate, total_nonzero = {}, 0.0, 0
        proxies = self.proxies()
        for layer, proxy, weight in proxies:
            coefficients = keras.ops.convert_to_numpy(weight.coefficients) * weight.mask_numpy()
            rate = float(keras.ops.convert_to_numpy(proxy.rate(coefficients)))
            nonzero = int((np.abs(coefficients) >= proxy.q / 2).sum())
            logs[f"rate/{layer.name}"], logs[f"quantized_nonzero/{layer.name}"] = rate, nonzero
            total_rate += rate
            total_nonzero += nonzero
        for layer in self.coded_layers():
            rate = sum(float(keras.ops.convert_to_numpy(weight.rate_bits())) for weight in layer.coded_weights)
            logs[f"rate/{layer.name}"] = rate
            total_rate += rate
        logs["rate"] = total_rate
        if proxies:
            logs["quantized_nonzero"] = total_nonzero
        return logs


class KeepZeros(keras.callbacks.Callback):
    """Holds the zeros of every plain `Conv2D`, `Conv2DTranspose` and `Dense`
    kernel at zero while training: the fine-tune of a pruned model (e.g.
    `dct_keras.compression.l1_prune`'s), where the optimizer would regrow them.

    The mask is read from the kernels when training begins (the state is the
    zeros in the weights themselves: a resumed run reads it back) and
    re-applied after every step.
    """

    PRUNABLE = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense)

    def on_train_begin(self, logs=None):
        self.kernels = [layer.kernel for layer in walk_layers(self.model)
                        if type(layer) in self.PRUNABLE and not is_spectral(layer)]
        self.masks = [keras.ops.convert_to_numpy(kernel) != 0 for kernel in self.kernels]

    def on_train_batch_end(self, batch, logs=None):
        sync_training_state(self.model)
        self._apply([keras.ops.convert_to_numpy(kernel) for kernel in self.kernels])

    def _apply(self, values):
        for kernel, value, mask in zip(self.kernels, values, self.masks):
            kernel.assign(np.where(mask, value, 0.0).astype(value.dtype))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            kept = sum(int(mask.sum()) for mask in self.masks)
            logs["pruned_fraction"] = 1.0 - kept / max(1, sum(mask.size for mask in self.masks))


class MagnitudePruning(KeepZeros):
    """Global magnitude pruning of the plain kernels with a polynomial
    sparsity schedule (Zhu & Gupta, 2017): the baseline a user would try
    instead of a frequency-domain method.

    At optimizer step ``t`` (every ``frequency`` steps from ``begin_step``,
    and at ``end_step``) the kernels of every plain `Conv2D`, `Conv2DTranspose`
    and `Dense` layer are pruned together to the sparsity
    ``s_t = s_f + (s_0 - s_f) (1 - (t - begin) / (end - begin))^3`` by
    zeroing their smallest magnitudes; after every step the pruned entries
    are zeroed again, so they stay zero. The state is the zeros in the
    weights themselves (a resumed run reads its mask back from them).

    Args:
        final_sparsity: ``s_f`` in [0, 1).
        end_step: the step at which ``s_f`` is reached (then held).
        begin_step: the first pruning step.
        frequency: steps between two threshold updates.
        initial_sparsity: ``s_0``.
    """

    def __init__(self, final_sparsity, end_step, begin_step=0, frequency=100, initial_sparsity=0.0):
        super().__init__()
        for value, name in ((final_sparsity, "final_sparsity"), (initial_sparsity, "initial_sparsity")):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
                raise ValueError(f"Invalid value for argument `{name}`: expected a number in [0, 1), received {value!r}.")
        if not 0 <= begin_step < end_step or frequency < 1:
            raise ValueError(f"Invalid schedule: expected 0 <= begin_step < end_step and frequency >= 1, received "
                             f"begin_step={begin_step!r}, end_step={end_step!r}, frequency={frequency!r}.")
        self.final_sparsity, self.initial_sparsity = float(final_sparsity), float(initial_sparsity)
        self.begin_step, self.end_step, self.frequency = int(begin_step), int(end_step), int(frequency)

    def sparsity(self, step):
        """The schedule's target sparsity at optimizer step ``step``."""
        progress = min(1.0, max(0.0, (step - self.begin_step) / (self.end_step - self.begin_step)))
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1 - progress) ** 3

    def on_train_batch_end(self, batch, logs=None):
        sync_training_state(self.model)
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        values = [keras.ops.convert_to_numpy(kernel) for kernel in self.kernels]
        due = (step - self.begin_step) % self.frequency == 0 or step == self.end_step
        if self.begin_step <= step <= self.end_step and due:
            magnitudes = np.concatenate([np.abs(v).ravel() for v in values])
            pruned = int(round(self.sparsity(step) * magnitudes.size))
            if pruned:
                threshold = np.partition(magnitudes, pruned - 1)[pruned - 1]
                self.masks = [mask & (np.abs(v) > threshold) for mask, v in zip(self.masks, values)]
        self._apply(values)


def recalibrate_normalization(model, images, batch_size=128):
    """Recomputes the moving statistics of every `BatchNormalization` of
    ``model`` (a harmonic block's spectrum normalization too) as the plain
    average of the batch statistics over ``images``, in training mode with
    dropout off; nothing else changes. The remedy for statistics that lag
    abrupt weight changes (pruning, a switch-off, a short fine-tune): with
    Keras's momentum 0.99 they trail a few hundred steps behind."""
    leaves = list(walk_layers(model))
    norms = [layer for layer in leaves if isinstance(layer, keras.layers.BatchNormalization)]
    norms += [layer.response_norm for layer in leaves if getattr(layer, "response_norm", None) is not None]
    if not norms:
        return
    dropouts = {layer: layer.rate for layer in leaves if isinstance(layer, keras.layers.Dropout)}
    momenta = {norm: norm.momentum for norm in norms}
    try:
        for layer in dropouts:
            layer.rate = 0.0
        for step, start in enumerate(range(0, len(images), batch_size)):
            for norm in norms:  # moving = the running average of the batch statistics seen so far
                norm.momentum = step / (step + 1)
            model(images[start:start + batch_size], training=True)
    finally:
        for layer, rate in dropouts.items():
            layer.rate = rate
        for norm, momentum in momenta.items():
            norm.momentum = momentum


class RecalibrateNormalization(keras.callbacks.Callback):
    """At the end of every `fit`, `recalibrate_normalization` over ``images``
    (a fixed sample of training images, as the model takes them)."""

    def __init__(self, images, batch_size=128):
        super().__init__()
        self.images, self.batch_size = images, batch_size

    def on_train_end(self, logs=None):
        sync_training_state(self.model)
        recalibrate_normalization(self.model, self.images, self.batch_size)
