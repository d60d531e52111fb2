"""The techniques: each declared once, asked by every experiment.

A technique turns a plain network (trained, or built fresh) and a budget into
the model to ship: its model, its `fit` callbacks and its own result fields.
The frontier plans, builds and reports every registered technique through
this declaration alone; the per-paper methods and the keras-tuner sweep take
their shared parts from it (e.g. FreqReg's `tail_dropout`).

To add a technique: write a module here with a `Technique` subclass and
``register(...)`` of an instance, and name the module in the import line
below (the one registration). See docs/architecture.md.
"""

from dct_keras.experiment.techniques.base import Context, Shipping, Technique, register, registered, technique, unregister
from dct_keras.experiment.techniques import plain, pruning, dct_conv, freqreg, harmonic, reorder, ctnet, rd  # noqa: F401, E402

__all__ = ["Context", "Shipping", "Technique", "register", "registered", "technique", "unregister"]
