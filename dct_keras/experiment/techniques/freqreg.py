"""Frequency Regularization (frequency_regularization.txt): the FreqReg
layers, tail-dropout towards a kept fraction (the budget). `tail_dropout` is
the one builder of its callback, for the FreqReg method, the sweep's FreqReg
variant and the frontier."""

from dct_keras.experiment.techniques.base import Technique, register

TAIL_DROPOUT = {"gamma": (int, float), "min_kept": int, "schedule": str, "min_kept_conv": int, "min_kept_dense": int,
                "min_kept_transpose": int}
TAIL_DROPOUT_OPTIONAL = ("tail_dropout.min_kept_conv", "tail_dropout.min_kept_dense", "tail_dropout.min_kept_transpose")


def min_kept_of(section):
    """`TailDropout`'s floor from a ``tail_dropout`` section: one count, or
    per layer kind when the section sets the reference code's floors
    (``min_kept_conv`` / ``_dense`` / ``_transpose``)."""
    kinds = {kind: section[f"min_kept_{kind}"] for kind in ("conv", "dense", "transpose") if f"min_kept_{kind}" in section}
    if not kinds:
        return section["min_kept"]
    return {**{kind: section["min_kept"] for kind in ("conv", "dense", "transpose")}, **kinds}


def tail_dropout(section, kept_fraction, seed):
    """The `TailDropout` of a config's ``tail_dropout`` section towards ``kept_fraction``."""
    from dct_keras.callbacks import TailDropout

    return TailDropout(section["gamma"], kept_fraction, min_kept=min_kept_of(section), schedule=section["schedule"],
                       seed=seed)


class FreqReg(Technique):
    name = "freqreg"
    budget_word = "kept_fraction"
    marker = "^"
    sections = {"tail_dropout": TAIL_DROPOUT}
    optional = TAIL_DROPOUT_OPTIONAL

    def model(self, context, budget, seed):
        from dct_keras.surgery import convert

        if context.trained is None:
            return context.build_plain("freqreg")
        return convert(context.trained, to="freqreg", keep_weights=True)

    def callbacks(self, context, budget, seed):
        return [tail_dropout(context.config["tail_dropout"], budget, seed)]


register(FreqReg())
