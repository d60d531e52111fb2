"""What ships: compressed files of spectral models.

* `ship` – `save_shipped` / `load_shipped` / `quantize`: the one shipping format
  for every model (kept coefficients, quantized, LZMA-coded, with a manifest
  and a probe; the weights decode with NumPy alone, `dct_keras.decode`).
* `npz` – `save_compressed` / `load_compressed`: the kept coefficients
  (float16 / float32) in an ``.npz``, the masks as bits or implied by a count.
* `h265` – `export_h265` / `load_h265`: CTNet's export, coefficient tensors as
  an H.265 video plus raw small tensors and a JSON manifest.
* `runtime` – `export_runtime` / `runtime_predict`: LiteRT (float or
  full-integer) and ONNX files of the folded model, run in ai-edge-litert's
  interpreter and onnxruntime (the ``deploy`` extra).
"""

from dct_keras.export.npz import load_compressed, save_compressed
from dct_keras.export.ship import load_shipped, quantize, save_shipped

__all__ = ["load_compressed", "save_compressed", "load_shipped", "quantize", "save_shipped", "export_h265", "load_h265",
           "export_runtime", "runtime_predict"]


def __getattr__(name):  # H.265 needs PyAV, runtime files the deploy extra: loaded on first use
    if name in ("export_h265", "load_h265"):
        from dct_keras.export import h265

        return getattr(h265, name)
    if name in ("export_runtime", "runtime_predict"):
        from dct_keras.export import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'dct_keras.export' has no attribute {name!r}")
