"""Global magnitude pruning to a final sparsity (polynomial schedule over the
first 70 % of the run's steps, `callbacks.MagnitudePruning`)."""

from dct_keras.experiment.techniques.base import Technique, register

SCHEDULE_FRACTION = 0.7  # the sparsity is reached after this fraction of the steps


class Pruning(Technique):
    name = "pruning"
    budget_word = "sparsity"
    marker = "s"

    def model(self, context, budget, seed):
        return context.source()

    def callbacks(self, context, budget, seed):
        from dct_keras.callbacks import MagnitudePruning

        end = max(2, int(SCHEDULE_FRACTION * context.steps))
        return [MagnitudePruning(budget, end_step=end, frequency=max(1, end // 20))]


register(Pruning())
