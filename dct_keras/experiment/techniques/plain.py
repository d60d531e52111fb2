"""The plain network: shipped as trained (float32 / float16 / integer codes),
and, beside a trained start, through the same fine-tune uncompressed."""

from dct_keras.experiment.techniques.base import Technique, register


class Plain(Technique):
    """The trained plain network as it is (no training of its own)."""

    name = "plain"
    marker = "o"
    trains = False
    baseline = True

    def model(self, context, budget, seed):
        return context.trained


class PlainFinetuned(Technique):
    """The trained plain network through the fine-tune every other point of a
    trained start gets, uncompressed: the reference with the same training
    budget (what the extra steps alone give)."""

    name = "plain_finetuned"
    marker = "x"
    needs_trained = True
    reference = True
    baseline = True
    note = ("plain_finetuned: the trained plain network through the same fine-tune as every other point, "
            "uncompressed (the reference with the same training budget).")

    def model(self, context, budget, seed):
        return context.trained


register(Plain())
register(PlainFinetuned())
