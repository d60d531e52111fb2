"""CTNet (ctnet_h265.txt): the DCT family in CTNet's channel form under the
H.265 rate proxy of a strength lambda (the budget); also exported as H.265
(8-bit lossless) beside the general coder."""

import os

from dct_keras.experiment.techniques.base import Technique, register

RATE_PROXY = {"q": (int, float), "sharpness": (int, float), "block": int, "warmup_epochs": int}


class CTNet(Technique):
    name = "ctnet"
    budget_word = "strength"
    marker = "X"
    sections = {"rate_proxy": RATE_PROXY}
    extra_points = ("h265",)
    note = "h265 rows: CTNet's H.265 export (8-bit lossless) of the same model."

    def model(self, context, budget, seed):
        from dct_keras.regularizers import H265RateProxy
        from dct_keras.surgery import convert

        proxy = context.config["rate_proxy"]
        return convert(context.source(), to="dct", dense=True, seed=seed, keep_weights=context.trained is not None,
                       pointwise="channel_block_dct2d", pointwise_block=proxy["block"],
                       kernel_regularizer=H265RateProxy(budget, proxy["q"], proxy["sharpness"], proxy["block"]))

    def callbacks(self, context, budget, seed):
        from dct_keras.callbacks import RateWarmup

        return [RateWarmup(context.config["rate_proxy"]["warmup_epochs"])]

    def fields(self, model, context, budget, shipping):
        from dct_keras.export.h265 import export_h265, load_h265

        folder = os.path.join(shipping.out_dir, "shipped", f"{shipping.run_id}-h265")
        sizes = export_h265(model, folder, bit_depth=8, lossless=True, progress=False)
        return {"h265": {"bytes": sizes["total"], "accuracy": shipping.evaluate(load_h265(folder, progress=False)),
                         "lzma_pixels": sizes["lzma_pixels"]}}


register(CTNet())
