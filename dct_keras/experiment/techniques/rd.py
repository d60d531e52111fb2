"""Rate–distortion training (entropy-penalized reparameterization, Oktay et
al., ICLR 2020, in the DCT domain): every convolution and dense layer becomes
its rate–distortion version (`dct_keras.layers.RDConv2D`, ...), trained
under ``lambda / parameters`` times the code length of its weights (lambda
is the budget: larger, smaller files), the rate ramped in by `RateWarmup`.
Its shipped weights are its own integer codes under its own probability
models, so it ships once (`codes_itself`). Its section may give its own
learning-rate schedule (``learning_rate``, within the run's epochs):
quantized training converges only as the rate anneals; ``rate_interval``
(default 1: every step) is how many steps share one evaluation of the rate
and its gradient (`dct_keras.spectral.coded`)."""

from dct_keras.experiment.config import SCHEDULE_SCHEMA
from dct_keras.experiment.errors import ConfigError
from dct_keras.experiment.techniques.base import Technique, register

RATE_DISTORTION = {"warmup_epochs": int, "log_speed": (int, float), "rate_interval": int,
                   "learning_rate": SCHEDULE_SCHEMA}


class RateDistortion(Technique):
    name = "rd"
    budget_word = "lambda"
    marker = "h"
    sections = {"rate_distortion": RATE_DISTORTION}
    optional = ("rate_distortion.rate_interval", "rate_distortion.learning_rate", *(f"rate_distortion.learning_rate.{key}" for key in SCHEDULE_SCHEMA),
                "rate_distortion.learning_rate.cosine.warmup_epochs")
    codes_itself = True
    note = ("rd rows: rate–distortion training, weights shipped as their own integer codes under the trained "
            "probability models (one file whatever the bit width, which reaches only its other weights).")

    def check(self, config, budgets, source):
        super().check(config, budgets, source)
        section = config["rate_distortion"]
        if not section["log_speed"] > 0:
            raise ConfigError(f"{source}: `rate_distortion.log_speed` must be > 0, got {section['log_speed']!r}.")
        if section.get("rate_interval", 1) < 1:
            raise ConfigError(f"{source}: `rate_distortion.rate_interval` must be >= 1 (training calls per evaluation "
                              f"of the rate), got {section['rate_interval']!r}.")

    def model(self, context, budget, seed):
        from dct_keras.accounting import count_params
        from dct_keras.surgery import convert

        source, section = context.source(), context.config["rate_distortion"]
        rate_weight = budget / count_params(source).total  # lambda per parameter: lambda x bits per parameter
        return convert(source, to="rd", seed=seed, keep_weights=context.trained is not None, rate_weight=rate_weight,
                       log_speed=section["log_speed"], rate_interval=section.get("rate_interval", 1))

    def callbacks(self, context, budget, seed):
        from dct_keras.callbacks import RateWarmup

        return [RateWarmup(context.config["rate_distortion"]["warmup_epochs"])]

    def learning_rate(self, config):
        return config["rate_distortion"].get("learning_rate", config["learning_rate"])


register(RateDistortion())
