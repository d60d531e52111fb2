"""DCT-Conv (dct_conv.txt): every convolution and dense layer in the DCT-Conv
family with a random switch-off p (the budget)."""

from dct_keras.experiment.techniques.base import Technique, register


class DCTConv(Technique):
    name = "dct_conv"
    budget_word = "switch_off"
    marker = "D"

    def model(self, context, budget, seed):
        from dct_keras.surgery import convert

        return convert(context.source(), to="dct", dense=True, switch_off=budget, seed=seed,
                       keep_weights=context.trained is not None)


register(DCTConv())
