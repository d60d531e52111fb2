"""Run plans: which runs an experiment trains, in which order (pure Python,
so command lines check a selection before loading TensorFlow)."""

import dataclasses

PLAIN = "plain"  # the unmodified Keras model (the papers' "CNN", "baseline")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run: a variant, its switch-off p (None for the plain
    model), a seed.

    ``switch_off_policy`` is where the ``p`` fraction of coefficients is
    switched off: "random" (the paper's DCT-Conv masks) or "tail" (the highest
    frequencies). For the "freqreg" variant p = 1 - the final kept fraction;
    "tail" is reached by `TailDropout`'s dynamic schedule, "random" is its
    fixed random subset.
    """

    variant: str
    p: float | None
    seed: int
    block: str | None = None  # the Table V block; None for the plain model shared by all blocks
    switch_off_policy: str = "random"

    @property
    def key(self):
        setting = self.variant if self.p is None else f"{self.variant}-p{self.p:g}"
        if self.switch_off_policy != "random":
            setting += f"-{self.switch_off_policy}"
        return f"{setting}-seed{self.seed}"


def plan_runs(config, blocks, p_values=None):
    """Runs in protocol order: the plain CNN, then DCT at p = 0, then the other p's.

    Args:
        config: the effective config.
        blocks: names of ``config["blocks"]`` to run.
        p_values: optional subset to run: grid values (numbers, compared with
            a tolerance) and/or ``"plain"`` for the plain model; None: all.
    """
    seeds = range(config["runs"])
    wanted = None if p_values is None else list(p_values)
    numbers = [] if wanted is None else [p for p in wanted if not isinstance(p, str)]
    plan = []
    if wanted is None or PLAIN in wanted:
        plan += [RunSpec(PLAIN, None, s) for s in seeds]
    for stage_zero in (True, False):
        for name in blocks:
            block = config["blocks"][name]
            for p in block["p_grid"]:
                if (p == 0) != stage_zero or (wanted is not None and not any(abs(p - q) < 1e-9 for q in numbers)):
                    continue
                plan += [RunSpec(block["variant"], float(p), s, name) for s in seeds]
    return plan
