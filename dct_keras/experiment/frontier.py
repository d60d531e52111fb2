"""The accuracy-vs-bytes frontier of every method on one architecture, as one `Method`.

Every run trains (or compresses) the config's architecture with one
*technique* at one *budget*, then ships the final model at every bit width of
``bits`` in the one shipping format (`dct_keras.export.ship`) and evaluates
the model decoded from each file: a point is (bytes of the whole file, test
accuracy of what it decodes to). Techniques and what their budget means:

* ``plain`` – the unmodified network (budget unused): float32 / float16 / int
  shipping of an ordinary model;
* ``pruning`` – global magnitude pruning to a final sparsity (polynomial
  schedule over the first 70 % of the steps, `MagnitudePruning`);
* ``dct_conv`` – every convolution and dense layer in the DCT-Conv family
  with a random switch-off p (dct_conv.txt);
* ``freqreg`` – the FreqReg layers, tail-dropout towards a kept fraction
  (frequency_regularization.txt, with the config's per-layer floors);
* ``harmonic`` – every square convolution a harmonic block of lambda levels
  (harmonic_networks.txt; dense layers stay plain);
* ``reorder`` – the trained plain network (the ``plain`` run, trained once and
  cached) compressed by reorder-DCT at a compression rate r (rows g = 4), then
  fine-tuned for ``finetune_epochs`` (reorder_dct_compression.txt);
* ``ctnet`` – the DCT family in CTNet's channel form under the H.265 rate
  proxy of a strength lambda (ctnet_h265.txt); also exported as H.265
  (8-bit lossless) beside the general coder.

``start`` says where the trained techniques begin: ``"scratch"`` (default;
each trains ``epochs`` from a fresh initialization, as the papers do) or
``"trained"`` (each starts from the trained plain network, converted with its
weights kept – `surgery.convert(keep_weights=True)`, pruning from the network
itself – and fine-tunes ``finetune_epochs`` over ``finetune_examples``
examples per epoch, like reorder-DCT: the compression-of-a-trained-model
regime, used where training every point from scratch is beyond the budget).
The trained plain network is trained once under the config's optimizer,
schedule, batch size, epochs and augmentation, or under those of its
``base`` section where it has one (then the top-level ones are the
fine-tune's); it is cached under a hash of only what determines it
(`base_config`), so changing the techniques, bits or fine-tune reuses it.
``recalibrate_examples`` (optional) recomputes every batch normalization's
moving statistics over that many training images at the end of each run's
training (`callbacks.RecalibrateNormalization`): after an abrupt change of
the weights (pruning, a switch-off, a conversion) and a short fine-tune they
lag far behind, and inference accuracy with them. With a trained start the plan adds ``plain_finetuned``: the plain network
through the same fine-tune, uncompressed – the reference with the same
training budget as every other point (what the extra steps alone give).

The table marks the Pareto-optimal points (no other point is both smaller and
at least as accurate) and the plot draws accuracy against bytes (log scale)
with the published anchors as reference marks.
"""

import collections
import os

from dct_keras.experiment.config import COMMON_OPTIONAL, COMMON_SCHEMA, SCHEDULE_SCHEMA, ConfigError
from dct_keras.experiment.protocol import Method, RunSpec, select_names
from dct_keras.experiment.tables import budget_text, markdown_table, pyplot

TECHNIQUES = ("plain", "pruning", "dct_conv", "freqreg", "harmonic", "reorder", "ctnet")
PLAIN_FINETUNED = "plain_finetuned"  # planned, not configured: the reference of a trained start
BUDGET_WORDS = {"plain": None, PLAIN_FINETUNED: None, "pruning": "sparsity", "dct_conv": "switch_off", "freqreg": "kept_fraction",
                "harmonic": "levels", "reorder": "compression_rate", "ctnet": "strength"}
REORDER_ROWS = 4
# What the trained plain network of a trained start depends on: the data, the architecture and its
# training (the ``base`` section replacing these keys); the techniques, bits and fine-tune do not.
BASE_KEYS = ("method", "experiment", "dataset", "task", "model", "loss", "metric", "optimizer", "learning_rate",
             "batch_size", "epochs", "augment", "epoch_examples", "input_normalization", "l2", "tier")


def setting_name(technique, budget):
    return technique if budget is None else f"{technique}-{BUDGET_WORDS[technique]}{budget:g}"


class Frontier(Method):
    """Accuracy against shipped bytes, every technique x budget x bit width."""

    name = "frontier"
    schema = {
        "model": str,
        "bits": list,
        "techniques": dict,
        "finetune_epochs": int,
        "finetune_examples": int,
        "start": str,
        "recalibrate_examples": int,
        "tail_dropout": {"gamma": (int, float), "min_kept": int, "schedule": str, "min_kept_conv": int,
                         "min_kept_dense": int, "min_kept_transpose": int},
        "rate_proxy": {"q": (int, float), "sharpness": (int, float), "block": int, "warmup_epochs": int},
        "anchors": list,
        "base": {"epochs": int, "batch_size": int, "augment": bool, "optimizer": COMMON_SCHEMA["optimizer"],
                 "learning_rate": SCHEDULE_SCHEMA},
    }
    optional = ("finetune_examples", "start", "recalibrate_examples", "base", *(f"base.{key}" for key in (
        "epochs", "batch_size", "augment", "optimizer", "learning_rate")), *(f"base.{path}" for path in COMMON_OPTIONAL
                                                                             if path.startswith(("optimizer.", "learning_rate."))), "tail_dropout.min_kept_conv", "tail_dropout.min_kept_dense", "tail_dropout.min_kept_transpose")

    @classmethod
    def validate(cls, config, source):
        unknown = sorted(set(config["techniques"]) - set(TECHNIQUES))
        if unknown:
            raise ConfigError(f"{source}: unknown techniques {unknown}; the techniques are {list(TECHNIQUES)}.")
        for technique, budgets in config["techniques"].items():
            if not isinstance(budgets, list) or not budgets:
                raise ConfigError(f"{source}: `techniques.{technique}` must be a non-empty list of budgets.")
            if technique == "plain" and budgets != [None]:
                raise ConfigError(f"{source}: `techniques.plain` takes no budget: write [null].")
            if technique != "plain" and not all(isinstance(b, (int, float)) and not isinstance(b, bool) and b > 0 for b in budgets):
                raise ConfigError(f"{source}: `techniques.{technique}` must hold numbers > 0.")
        if not all(isinstance(b, int) and not isinstance(b, bool) and (b in (16, 32) or 2 <= b <= 16) for b in config["bits"]):
            raise ConfigError(f"{source}: `bits` must hold 32, 16 or integers in [2, 16].")
        for anchor in config["anchors"]:
            if not (isinstance(anchor, dict) and isinstance(anchor.get("name"), str) and isinstance(anchor.get("bytes"), int)
                    and (anchor.get("accuracy") is None or isinstance(anchor["accuracy"], (int, float)))):
                raise ConfigError(f"{source}: every `anchors` entry needs a `name`, integer `bytes` and an `accuracy` "
                                  f"(a number, or null for a size published on other data), got {anchor!r}.")
        if config.get("start", "scratch") not in ("scratch", "trained"):
            raise ConfigError(f"{source}: `start` must be \"scratch\" or \"trained\", got {config['start']!r}.")
        if config.get("finetune_examples", 1) < 1:
            raise ConfigError(f"{source}: `finetune_examples` must be >= 1, got {config['finetune_examples']!r}.")
        needs_plain = "reorder" in config["techniques"] or config.get("start") == "trained"
        if needs_plain and "plain" not in config["techniques"]:
            raise ConfigError(f"{source}: reorder (and `start: trained`) start from the trained `plain` network: list plain too.")

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--techniques", nargs="+", metavar="NAME", help=f"subset of the config's techniques ({', '.join(TECHNIQUES)})")

    def plan(self, args=None):
        chosen = select_names(getattr(args, "techniques", None), self.config["techniques"], "--techniques", "techniques") \
            or list(self.config["techniques"])
        plan = []
        for technique in chosen:
            for budget in self.config["techniques"][technique]:
                epochs, examples = None, None
                if technique == "plain":
                    epochs = 0
                elif technique == "reorder" or self.from_trained:
                    epochs, examples = self.config["finetune_epochs"], self.config.get("finetune_examples")
                plan += [RunSpec(setting_name(technique, budget), seed, {"technique": technique, "budget": budget}, epochs,
                                 examples) for seed in range(self.config["runs"])]
                if technique == "plain" and self.from_trained:
                    plan += [RunSpec(PLAIN_FINETUNED, seed, {"technique": PLAIN_FINETUNED, "budget": None},
                                     self.config["finetune_epochs"], self.config.get("finetune_examples"))
                             for seed in range(self.config["runs"])]
        return plan

    @property
    def from_trained(self):
        return self.config.get("start", "scratch") == "trained"

    def input_requirements(self):
        from dct_keras.models import INPUT_REQUIREMENTS

        return [(self.config["model"], INPUT_REQUIREMENTS[self.config["model"]])]

    def setup(self, data, out_dir, log, verbose="auto"):
        self.trained = {}  # seed -> (trained plain network, its row)
        self.out_dir, self.log, self.verbose = out_dir, log, verbose

    def _trained_plain(self, seed, data):
        """The trained plain network of ``seed`` (the ``plain`` run, trained
        once through the `Runner` and cached)."""
        from dct_keras.experiment.runner import train_cached

        if seed not in self.trained:
            spec = RunSpec("plain", seed, {"technique": "plain", "budget": None, "train": True})
            self.trained[seed] = train_cached(Frontier(base_config(self.config)), spec, data, self.out_dir, self.log,
                                              self.verbose)
        return self.trained[seed]

    def build(self, spec, data):
        import keras

        from dct_keras.experiment.runner import compile_model
        from dct_keras.models import BUILDERS
        from dct_keras.surgery import convert

        technique, budget = spec.options["technique"], spec.options["budget"]
        keras.utils.set_random_seed(spec.seed)
        shapes = {"num_classes": data.num_classes, "input_shape": data.x_train.shape[1:], "seed": spec.seed}
        trained = technique == "reorder" or (technique == "plain" and not spec.options.get("train")) or (
            self.from_trained and technique != "plain")
        if trained:  # the trained plain network, converted with its weights
            base = self._trained_plain(spec.seed, data)[0]
            model = keras.models.clone_model(base)
            model.set_weights(base.get_weights())
        else:
            model = BUILDERS[self.config["model"]]("freqreg" if technique == "freqreg" else "plain", **shapes)
        if technique == "reorder":
            from dct_keras.compression import compress

            model = compress(model, rows=REORDER_ROWS, compression_rate=budget, progress=False)
        elif technique == "freqreg" and trained:
            model = convert(model, to="freqreg", keep_weights=True)
        elif technique == "dct_conv":
            model = convert(model, to="dct", dense=True, switch_off=budget, seed=spec.seed, keep_weights=trained)
        elif technique == "harmonic":
            model = convert(model, to="harmonic", levels=int(budget), keep_weights=trained)
        elif technique == "ctnet":
            from dct_keras.regularizers import H265RateProxy

            proxy = self.config["rate_proxy"]
            model = convert(model, to="dct", dense=True, seed=spec.seed, keep_weights=trained,
                            pointwise="channel_block_dct2d", pointwise_block=proxy["block"],
                            kernel_regularizer=H265RateProxy(budget, proxy["q"], proxy["sharpness"], proxy["block"]))
        return compile_model(model, self.config)

    def callbacks(self, spec, data):
        from dct_keras import callbacks

        found = self._technique_callbacks(spec, data)
        if self.config.get("recalibrate_examples"):
            import numpy as np

            order = np.random.default_rng(spec.seed).permutation(len(data.x_train))[:self.config["recalibrate_examples"]]
            found.append(callbacks.RecalibrateNormalization(data.x_train[np.sort(order)]))
        return found

    def _technique_callbacks(self, spec, data):
        from dct_keras import callbacks

        technique, budget = spec.options["technique"], spec.options["budget"]
        if technique == "freqreg":
            from dct_keras.experiment.freqreg import min_kept_of

            tail = self.config["tail_dropout"]
            return [callbacks.TailDropout(tail["gamma"], budget, min_kept=min_kept_of(tail), schedule=tail["schedule"],
                                          seed=spec.seed)]
        if technique == "pruning":
            examples = min(spec.examples or self.config.get("epoch_examples") or len(data.x_train), len(data.x_train))
            epochs = self.config["epochs"] if spec.epochs is None else spec.epochs
            end = max(2, int(0.7 * -(-examples // self.config["batch_size"]) * epochs))
            return [callbacks.MagnitudePruning(budget, end_step=end, frequency=max(1, end // 20))]
        if technique == "ctnet":
            return [callbacks.RateWarmup(self.config["rate_proxy"]["warmup_epochs"])]
        return []

    def bits_of(self, technique):
        """The bit widths a technique's model ships at: the config's ``bits``;
        the plain network also always at float32 and float16 (the baselines)."""
        extra = {32, 16} if technique in ("plain", PLAIN_FINETUNED) else set()
        return sorted(set(self.config["bits"]) | extra, reverse=True)

    def _shipped_path(self, out_dir, run_id, bits):
        return os.path.join(out_dir, "shipped", f"{run_id}-{bits}bit.dctk")

    def fields(self, spec, model, data, out_dir, run_id):
        """Every bit width shipped, decoded from its file and evaluated (not for
        the training run of the plain network, `_trained_plain`)."""
        if spec.options.get("train"):
            return {}
        from dct_keras.export.ship import load_shipped, save_shipped
        from dct_keras.experiment.runner import evaluate

        points = {}
        for bits in self.bits_of(spec.options["technique"]):
            path = self._shipped_path(out_dir, run_id, bits)
            report = save_shipped(model, path, bits=bits)
            decoded = load_shipped(path)
            decoded.compile(loss=self.config["loss"], metrics=["accuracy"])
            points[str(bits)] = {"bytes": report["bytes"], "accuracy": float(evaluate(decoded, data.x_test, data.y_test)["accuracy"]),
                                 "file": os.path.relpath(path, out_dir)}
        fields = {"points": points, "float32_bytes": self._plain_float32(data)}
        if spec.options["technique"] in ("plain", PLAIN_FINETUNED, "reorder"):  # the training of the network they start from
            fields["base_training_s"] = self._trained_plain(spec.seed, data)[1]["wall_time_s"]
        if spec.options["technique"] == "ctnet":
            fields["h265"] = self._h265(model, data, out_dir, run_id)
        return fields

    def _plain_float32(self, data):
        """The float32 bytes of the plain architecture's parameters: every
        point's ratio is to this one model (a reorder model counts its order
        vectors, a harmonic one fewer weights)."""
        from dct_keras.accounting import count_params
        from dct_keras.models import BUILDERS

        plain = BUILDERS[self.config["model"]]("plain", num_classes=data.num_classes, input_shape=data.x_train.shape[1:])
        return 4 * count_params(plain).total

    def _h265(self, model, data, out_dir, run_id):
        from dct_keras.experiment.runner import evaluate
        from dct_keras.export.h265 import export_h265, load_h265

        folder = os.path.join(out_dir, "shipped", f"{run_id}-h265")
        sizes = export_h265(model, folder, bit_depth=8, lossless=True, progress=False)
        decoded = load_h265(folder, progress=False)
        decoded.compile(loss=self.config["loss"], metrics=["accuracy"])
        return {"bytes": sizes["total"], "accuracy": float(evaluate(decoded, data.x_test, data.y_test)["accuracy"]),
                "lzma_pixels": sizes["lzma_pixels"]}

    def shipped(self, spec, model, out_dir, run_id):
        if spec.options.get("train"):
            return {}
        bits = min(self.bits_of(spec.options["technique"]))
        path = self._shipped_path(out_dir, run_id, bits)
        return {f"{bits}bit": path} if os.path.exists(path) else {}

    def render(self, rows, out_dir):
        points = frontier_points(rows)
        header = ["technique", "budget", "bits", "bytes", "x smaller than plain float32", "accuracy (decoded)", "training",
                  "Pareto"]
        table = [[p["technique"], "—" if p["budget"] is None else f"{BUDGET_WORDS[p['technique']]} {p['budget']:g}",
                  p["bits"], f"{p['bytes']:,}", f"{p['ratio']:.1f}x", f"{p['accuracy']:.4f}", f"{p['wall_time_s']:.0f} s",
                  "★" if p["pareto"] else ""] for p in points]
        anchors = [f"{a['name']}: {a['bytes']:,} B" + ("" if a["accuracy"] is None else f" at {a['accuracy']:.4f}")
                   + (f" ({a['note']})" if a.get("note") else "") for a in self.config["anchors"]]
        notes = ["Every point is a whole shipped file (`dct_keras.export.ship`: manifest with the architecture and a probe, "
                 "masks, quantized values, LZMA) and the test accuracy of the model decoded from it; ★ marks the Pareto "
                 "front (no other point smaller and at least as accurate). h265 rows: CTNet's H.265 export (8-bit "
                 "lossless) of the same model. Training: the run's wall time (plain and reorder: the plain network's "
                 "training, plus reorder's fine-tune)." + (" plain_finetuned: the trained plain network through the same "
                 "fine-tune as every other point, uncompressed (the reference with the same training budget)."
                 if any(r["method_fields"]["technique"] == PLAIN_FINETUNED for r in rows) else ""), "Anchors (published, not run here): " + "; ".join(anchors) + "."]
        trained = max(rows, key=lambda r: r["epochs_budget"])  # the plain row ships a network trained elsewhere
        text = markdown_table(header, table, self.config["title"], budget=budget_text(trained), notes=notes)
        path = os.path.join(out_dir, "frontier.png")
        render_plot(points, self.config, path)
        return text, [path]


METHOD = Frontier


def base_config(config):
    """The config the trained plain network is trained under (and cached by):
    the frontier config's `BASE_KEYS`, its ``base`` section replacing them."""
    base = {key: config[key] for key in BASE_KEYS if key in config}
    return {**base, **config.get("base", {})}


def frontier_points(rows):
    """One point per run and bit width (and H.265 export), sorted by bytes,
    the Pareto-optimal ones marked."""
    points = []
    # Ratios are to the plain architecture's float32 bytes (the plain run's; rows written before they
    # recorded it themselves carried their own model's).
    plain = next((r["method_fields"]["float32_bytes"] for r in rows if r["method_fields"]["technique"] == "plain"), None)
    for row in rows:
        fields = row["method_fields"]
        common = {"technique": fields["technique"], "budget": fields["budget"], "seed": row["seed"],
                  "wall_time_s": row["wall_time_s"] + fields.get("base_training_s", 0.0),
                  "float32": plain or fields["float32_bytes"]}
        for bits, point in fields["points"].items():
            points.append({**common, "bits": bits, "bytes": point["bytes"]["total"], "accuracy": point["accuracy"]})
        if "h265" in fields:
            points.append({**common, "bits": "h265", "bytes": fields["h265"]["bytes"], "accuracy": fields["h265"]["accuracy"]})
    points.sort(key=lambda p: (p["bytes"], -p["accuracy"]))
    best = -1.0
    for point in points:
        point["ratio"] = point["float32"] / point["bytes"]
        point["pareto"] = point["accuracy"] > best
        best = max(best, point["accuracy"])
    return points


def render_plot(points, config, path):
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(10, 4.8))
    by_technique = collections.defaultdict(list)
    for point in points:
        by_technique[point["technique"]].append(point)
    markers = {**dict(zip(TECHNIQUES, "osD^vPX")), PLAIN_FINETUNED: "x"}
    for technique, group in by_technique.items():
        axis.plot([p["bytes"] for p in group], [p["accuracy"] for p in group], markers.get(technique, "o"), ms=5,
                  alpha=0.8, label=technique)
    front = [p for p in points if p["pareto"]]
    axis.plot([p["bytes"] for p in front], [p["accuracy"] for p in front], "k-", lw=0.8, label="Pareto front")
    for number, anchor in enumerate(config["anchors"]):
        color, label = f"C{7 + number % 3}", f"anchor: {anchor['name']}"
        if anchor["accuracy"] is None:  # a published size on other data: a vertical reference line
            axis.axvline(anchor["bytes"], color=color, ls="--", lw=1, label=label)
        else:
            axis.plot(anchor["bytes"], anchor["accuracy"], "*", ms=14, color=color, label=label)
    axis.set_xscale("log")
    axis.set_xlabel("shipped bytes (whole file, log scale)")
    axis.set_ylabel("test accuracy of the decoded model")
    low = min([p["accuracy"] for p in front] + [a["accuracy"] for a in config["anchors"] if a["accuracy"] is not None])
    axis.set_ylim(max(0.0, low - 0.05), 1.0)
    axis.set_title(config["title"], fontsize=9)
    axis.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: the points stay readable
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
