"""Harmonic blocks (harmonic_networks.txt): every square convolution a
harmonic block of lambda levels (the budget); dense layers stay plain."""

from dct_keras.experiment.techniques.base import Technique, register


class Harmonic(Technique):
    name = "harmonic"
    budget_word = "levels"
    marker = "v"

    def model(self, context, budget, seed):
        from dct_keras.surgery import convert

        return convert(context.source(), to="harmonic", levels=int(budget), keep_weights=context.trained is not None)


register(Harmonic())
