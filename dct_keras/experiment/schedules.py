"""Learning-rate schedules of the configs, as functions of the epoch index."""

import math


def learning_rate_fn(spec, epochs=None):
    """Returns ``lr(epoch)`` for a config's ``learning_rate`` section
    (``epochs``: the run's epoch budget, read by the cosine schedule).

    ``epoch`` is 0-based, as in Keras callbacks.

    * ``{"piecewise": [[until, rate], ...]}`` – ``rate`` for the 1-based epochs
      up to and including ``until`` (dct_conv.txt Problem 1: 0.001 in epoch 1,
      0.1 till epoch 60, ...); the last rate continues past its bound.
    * ``{"halving": {"initial": b0, "factor": f, "every": k}}`` –
      ``b0 * f ** floor(t / k)`` with ``t`` the 0-based epoch (eq. 5).
    * ``{"constant": rate}``.
    * ``{"cosine": {"initial": a, "final": b}}`` – ``b + (a - b) (1 + cos(pi t
      / epochs)) / 2``: cosine annealing over the run's ``epochs``; with
      ``"warmup_epochs": w`` first ``a (t + 1) / w`` for ``t < w``, then the
      cosine over the remaining ``epochs - w`` (the CTNet authors' code).
    """
    if "piecewise" in spec:
        pieces = sorted(spec["piecewise"])

        def piecewise(epoch):
            for until, rate in pieces:
                if epoch + 1 <= until:
                    return float(rate)
            return float(pieces[-1][1])

        return piecewise
    if "halving" in spec:
        h = spec["halving"]
        return lambda epoch: float(h["initial"] * h["factor"] ** math.floor(epoch / h["every"]))
    if "cosine" in spec:
        c = spec["cosine"]
        if epochs is None:  # 0 is a run that trains nothing (a network evaluated as trained)
            raise ValueError("The cosine schedule needs the run's `epochs`.")
        warmup = c.get("warmup_epochs", 0)

        def cosine(epoch):
            if epoch < warmup:
                return float(c["initial"] * (epoch + 1) / warmup)
            progress = (epoch - warmup) / max(1, epochs - warmup)
            return float(c["final"] + (c["initial"] - c["final"]) * (1 + math.cos(math.pi * progress)) / 2)

        return cosine
    return lambda epoch: float(spec["constant"])
