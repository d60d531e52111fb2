"""Reorder-DCT (reorder_dct_compression.txt): the trained plain network
compressed at a compression rate r (the budget), rows g = 4, then
fine-tuned."""

from dct_keras.experiment.techniques.base import Technique, register

ROWS = 4


class Reorder(Technique):
    name = "reorder"
    budget_word = "compression_rate"
    marker = "P"
    needs_trained = True

    def model(self, context, budget, seed):
        from dct_keras.compression import compress

        return compress(context.trained, rows=ROWS, compression_rate=budget, progress=False)


register(Reorder())
