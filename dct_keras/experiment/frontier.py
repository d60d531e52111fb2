"""The accuracy-vs-bytes frontier of every technique on one architecture, as one `Method`.

Every run trains (or compresses) the config's architecture with one
*technique* at one *budget*, then ships the final model at every bit width of
``bits`` in the one shipping format (`dct_keras.export.ship`) and evaluates
the model decoded from each file: a point is (bytes of the whole file, test
accuracy of what it decodes to). The techniques, what their budget means,
their models, callbacks and extra fields are the registered declarations of
`dct_keras.experiment.techniques`; this module names none of them.

``start`` says where the trained techniques begin: ``"scratch"`` (default;
each trains ``epochs`` from a fresh initialization, as the papers do) or
``"trained"`` (each starts from the trained plain network, converted with its
weights kept, e.g. by `surgery.convert(keep_weights=True)` – and
fine-tunes ``finetune_epochs`` over ``finetune_examples`` examples per
epoch: the compression-of-a-trained-model regime, used where training every point from scratch is beyond the budget).
The trained plain network is trained once under the config's optimizer,
schedule, batch size, epochs and augmentation, or under those of its
``base`` section where it has one (then the top-level ones are the
fine-tune's); it is cached under a hash of only what determines it
(`base_config`), so changing the techniques, bits or fine-tune reuses it.
``recalibrate_examples`` (optional) recomputes every batch normalization's
moving statistics over that many training images at the end of each run's
training (`callbacks.RecalibrateNormalization`): after an abrupt change of
the weights (a conversion, a mask) and a short fine-tune they
lag far behind, and inference accuracy with them. With a trained start the
plan adds the reference techniques (the trained network through the same
fine-tune, uncompressed: the same training budget as every other point).

The table marks the Pareto-optimal points (no other point is both smaller and
at least as accurate) and the plot draws accuracy against bytes (log scale)
with the published anchors as reference marks.
"""

import collections
import os
import textwrap

from dct_keras.experiment.config import COMMON_OPTIONAL, COMMON_SCHEMA, SCHEDULE_SCHEMA
from dct_keras.experiment.deploy import runtime_table
from dct_keras.experiment.errors import ConfigError, RunError
from dct_keras.experiment.protocol import Method, RunSpec, select_names
from dct_keras.experiment.tables import budget_text, markdown_table, pyplot
from dct_keras.experiment.techniques import Context, Shipping, registered, technique

# What the trained plain network of a trained start depends on: the data, the architecture and its
# training (the ``base`` section replacing these keys); the techniques, bits and fine-tune do not.
BASE_KEYS = ("method", "experiment", "dataset", "task", "model", "loss", "metric", "optimizer", "learning_rate",
             "batch_size", "epochs", "augment", "epoch_examples", "input_normalization", "l2", "tier")
_BASE_OPTIONAL = ("base", *(f"base.{key}" for key in ("epochs", "batch_size", "augment", "optimizer", "learning_rate")),
                  *(f"base.{path}" for path in COMMON_OPTIONAL if path.startswith(("optimizer.", "learning_rate."))))


def configurable():
    """The techniques a config may list (the reference ones are planned by themselves)."""
    return [name for name, declared in registered().items() if not declared.reference]


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
        "anchors": list,
        "base": {"epochs": int, "batch_size": int, "augment": bool, "optimizer": COMMON_SCHEMA["optimizer"],
                 "learning_rate": SCHEDULE_SCHEMA},
        **{key: section for declared in registered().values() for key, section in declared.sections.items()},
    }
    optional = ("finetune_examples", "start", "recalibrate_examples", *_BASE_OPTIONAL,
                *(key for declared in registered().values() for key in (*declared.sections, *declared.optional)))

    @classmethod
    def validate(cls, config, source):
        unknown = sorted(set(config["techniques"]) - set(configurable()))
        if unknown:
            raise ConfigError(f"{source}: unknown techniques {unknown}; the techniques are {configurable()}.")
        for name, budgets in config["techniques"].items():
            if not isinstance(budgets, list) or not budgets:
                raise ConfigError(f"{source}: `techniques.{name}` must be a non-empty list of budgets.")
            technique(name).check(config, budgets, source)
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
        chosen = [technique(name) for name in config["techniques"]]
        as_trained = [t.name for t in registered().values() if not t.trains and not t.reference]
        needs_trained = [t.name for t in chosen if t.needs_trained] + (["`start: trained`"] if config.get("start") == "trained" else [])
        if needs_trained and not any(not t.trains for t in chosen):
            raise ConfigError(f"{source}: {', '.join(needs_trained)} start from the trained plain network: list "
                              f"{' or '.join(as_trained)} too (the network as trained).")

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--techniques", nargs="+", metavar="NAME", help=f"subset of the config's techniques ({', '.join(configurable())})")

    def plan(self, args=None):
        chosen = select_names(getattr(args, "techniques", None), self.config["techniques"], "--techniques", "techniques") \
            or list(self.config["techniques"])
        plan = []
        for name in chosen:
            declared = technique(name)
            for budget in self.config["techniques"][name]:
                plan += self._runs(declared, budget)
            if not declared.trains and self.from_trained:  # the references beside the network as trained
                for reference in (t for t in registered().values() if t.reference):
                    plan += self._runs(reference, None)
        return plan

    def _runs(self, declared, budget):
        epochs, examples = None, None
        if not declared.trains:
            epochs = 0
        elif declared.needs_trained or self.from_trained:
            epochs, examples = self.config["finetune_epochs"], self.config.get("finetune_examples")
        return [RunSpec(declared.setting(budget), seed, {"technique": declared.name, "budget": budget}, epochs, examples)
                for seed in range(self.config["runs"])]

    @property
    def from_trained(self):
        return self.config.get("start", "scratch") == "trained"

    def identity(self):
        """The config less what only some runs read: the technique list (a
        run's technique and budget are in its key), the techniques' own
        sections (in each run's `run_identity`) and the anchors (marks on
        the plot). Adding a technique to a config keeps every other row."""
        own = {key for declared in registered().values() for key in declared.sections}
        return {key: value for key, value in self.config.items() if key not in {"techniques", "anchors"} | own}

    def learning_rate(self, spec):
        """The config's schedule, or the run's technique's own."""
        if spec.options.get("train"):
            return self.config["learning_rate"]
        return technique(spec.options["technique"]).learning_rate(self.config)

    def run_identity(self, spec):
        """The sections of the run's technique (None for one without)."""
        if spec.options.get("train"):
            return None
        return {key: self.config[key] for key in technique(spec.options["technique"]).sections} or None

    def input_requirements(self):
        from dct_keras.models import INPUT_REQUIREMENTS

        return [(self.config["model"], INPUT_REQUIREMENTS[self.config["model"]])]

    def setup(self, data, out_dir, log, verbose="auto"):
        self.trained = {}  # seed -> (trained plain network, its row)
        self.out_dir, self.log, self.verbose = out_dir, log, verbose

    def _trained_plain(self, seed, data):
        """The trained plain network of ``seed`` (trained once through the
        `Runner` under `base_config` and cached)."""
        from dct_keras.experiment.runner import train_cached

        if seed not in self.trained:
            from dct_keras.models import PLAIN

            spec = RunSpec(PLAIN, seed, {"train": True})
            self.trained[seed] = train_cached(Frontier(base_config(self.config)), spec, data, self.out_dir, self.log,
                                              self.verbose)
        return self.trained[seed]

    def _context(self, spec, data, trained=None):
        from dct_keras.models import BUILDERS

        shapes = self._shapes(spec, data)
        examples = min(spec.examples or self.config.get("epoch_examples") or len(data.x_train), len(data.x_train))
        epochs = self.config["epochs"] if spec.epochs is None else spec.epochs
        return Context(self.config, lambda variant: BUILDERS[self.config["model"]](variant, **shapes), trained,
                       -(-examples // self.config["batch_size"]) * epochs)

    @staticmethod
    def _shapes(spec, data):
        """The builder's arguments of a run."""
        return {"num_classes": data.num_classes, "input_shape": data.x_train.shape[1:], "seed": spec.seed}

    def build(self, spec, data):
        import keras

        from dct_keras.experiment.runner import compile_model

        keras.utils.set_random_seed(spec.seed)
        if spec.options.get("train"):  # the plain network a trained start begins from
            from dct_keras.models import PLAIN

            return compile_model(self._context(spec, data).build_plain(PLAIN), self.config)
        declared = technique(spec.options["technique"])
        trained = None
        if not declared.trains or declared.needs_trained or self.from_trained:
            from dct_keras import recipes
            from dct_keras.models import PLAIN

            base = self._trained_plain(spec.seed, data)[0]
            trained = keras.models.clone_model(base)
            trained.set_weights(base.get_weights())
            # The clone of the cached network is the config's architecture (a shipped file names it).
            recipes.record(trained, recipes.built(self.config["model"], PLAIN, self._shapes(spec, data)))
        model = declared.model(self._context(spec, data, trained), spec.options["budget"], spec.seed)
        return compile_model(model, self.config)

    def callbacks(self, spec, data):
        from dct_keras import callbacks

        found = [] if spec.options.get("train") else technique(spec.options["technique"]).callbacks(
            self._context(spec, data), spec.options["budget"], spec.seed)
        if self.config.get("recalibrate_examples"):
            import numpy as np

            order = np.random.default_rng(spec.seed).permutation(len(data.x_train))[:self.config["recalibrate_examples"]]
            found.append(callbacks.RecalibrateNormalization(data.x_train[np.sort(order)]))
        return found

    def bits_of(self, name):
        """The bit widths a technique's model ships at: the config's ``bits``;
        the baselines also always at float32 and float16; a technique that
        codes its weights itself at the smallest only."""
        if technique(name).codes_itself:
            return [min(self.config["bits"])]
        extra = {32, 16} if technique(name).baseline else set()
        return sorted(set(self.config["bits"]) | extra, reverse=True)

    def _shipped_path(self, out_dir, run_id, bits):
        return os.path.join(out_dir, "shipped", f"{run_id}-{bits}bit.dctk")

    def _scorer(self, data):
        """``score(model)``: the test accuracy of a decoded model."""
        from dct_keras.experiment.runner import evaluate

        def score(model):
            model.compile(loss=self.config["loss"], metrics=["accuracy"])
            return float(evaluate(model, data.x_test, data.y_test)["accuracy"])

        return score

    def fields(self, spec, model, data, out_dir, run_id):
        """Every bit width shipped, decoded from its file and evaluated (not for
        the training run of the plain network, `_trained_plain`), and the
        technique's own fields."""
        if spec.options.get("train"):
            return {}
        from dct_keras.export.ship import load_shipped, save_shipped

        declared, score = technique(spec.options["technique"]), self._scorer(data)
        points = {}
        for bits in self.bits_of(declared.name):
            path = self._shipped_path(out_dir, run_id, bits)
            try:
                report = save_shipped(model, path, bits=bits)
                accuracy = score(load_shipped(path))
            except ValueError as error:  # the file format refuses this model (a ShippedFormatError too)
                raise RunError(f"{run_id}: its model does not ship at {bits} bits: {error} Its training is kept under "
                               f"{os.path.join(out_dir, 'checkpoints')}: a rerun ships it again; delete its folder "
                               "there to train it again.") from None
            points[str(bits)] = {"bytes": report["bytes"], "accuracy": accuracy, "file": os.path.relpath(path, out_dir)}
        fields = {"points": points, "float32_bytes": self._plain_float32(data)}
        if not declared.trains or declared.needs_trained:  # the training of the network they start from
            fields["base_training_s"] = self._trained_plain(spec.seed, data)[1]["wall_time_s"]
        return {**fields, **declared.fields(model, self._context(spec, data), spec.options["budget"],
                                            Shipping(out_dir, run_id, score))}

    def _plain_float32(self, data):
        """The float32 bytes of the plain architecture's parameters: every
        point's ratio is to this one model (a technique's model may hold more
        or fewer parameters)."""
        from dct_keras.accounting import count_params
        from dct_keras.models import BUILDERS, PLAIN

        plain = BUILDERS[self.config["model"]](PLAIN, num_classes=data.num_classes, input_shape=data.x_train.shape[1:])
        return 4 * count_params(plain).total

    def shipped(self, spec, model, out_dir, run_id):
        if spec.options.get("train"):
            return {}
        bits = min(self.bits_of(spec.options["technique"]))
        path = self._shipped_path(out_dir, run_id, bits)
        return {f"{bits}bit": path} if os.path.exists(path) else {}

    def render(self, rows, out_dir, results_dir=None):
        points = frontier_points(rows)
        header = ["technique", "budget", "bits", "file bytes", "weight bytes", "bits / parameter",
                  "x smaller than plain float32", "accuracy (decoded)", "training", "Pareto"]
        table = [[p["technique"], technique(p["technique"]).label(p["budget"]), p["bits"], f"{p['bytes']:,}",
                  f"{p['weight_bytes']:,}", f"{p['bits_per_parameter']:.3f}", f"{p['ratio']:.1f}x",
                  f"{p['accuracy']:.4f}", f"{p['wall_time_s']:.0f} s", "★" if p["pareto"] else ""]
                 for p in points]
        anchors = [f"{a['name']}: {a['bytes']:,} B" + ("" if a["accuracy"] is None else f" at {a['accuracy']:.4f}")
                   + (f" ({a['note']})" if a.get("note") else "") for a in self.config["anchors"]]
        present = [technique(name) for name in dict.fromkeys(r["method_fields"]["technique"] for r in rows)]
        notes = ["Every point is a whole shipped file (`dct_keras.export.ship`: manifest with the architecture and a probe, "
                 "masks, quantized values, LZMA or rANS) and the test accuracy of the model decoded from it; weight bytes: "
                 "its payload alone (the weights with their side information: the footing of published sizes), bits "
                 "per parameter: the weight bytes over the plain architecture's parameters; ★ marks the Pareto "
                 "front of the file bytes (no other point smaller and at least as accurate). Training: the run's wall time (a run that "
                 "starts from the trained network: that network's training, plus its own fine-tune)."
                 + "".join(f" {t.note}" for t in present if t.note),
                 "Anchors (published, not run here): " + "; ".join(anchors) + "."]
        trained = max(rows, key=lambda r: r["epochs_budget"])  # the plain row ships a network trained elsewhere
        text = markdown_table(header, table, self.config["title"], budget=budget_text(trained), notes=notes)
        path = os.path.join(out_dir, "frontier.png")
        render_plot(points, self.config, path)
        return text + runtime_table(points, results_dir or out_dir), [path]


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
    # Ratios are to the plain architecture's float32 bytes (the run of the network as trained; rows written
    # before they recorded it themselves carried their own model's).
    plain = next((r["method_fields"]["float32_bytes"] for r in rows
                  if not technique(r["method_fields"]["technique"]).trains), None)
    extra = {key for declared in registered().values() for key in declared.extra_points}
    for row in rows:
        fields = row["method_fields"]
        common = {"technique": fields["technique"], "budget": fields["budget"], "seed": row["seed"],
                  "wall_time_s": row["wall_time_s"] + fields.get("base_training_s", 0.0),
                  "float32": plain or fields["float32_bytes"]}
        for bits, point in fields["points"].items():
            points.append({**common, "bits": bits, "bytes": point["bytes"]["total"], "weight_bytes": point["bytes"]["payload"],
                           "accuracy": point["accuracy"], "file": point.get("file")})
        for key in sorted(extra & set(fields)):  # another format's file: all of it counts as weights
            points.append({**common, "bits": key, "bytes": fields[key]["bytes"], "weight_bytes": fields[key]["bytes"],
                           "accuracy": fields[key]["accuracy"]})
    points.sort(key=lambda p: (p["bytes"], -p["accuracy"]))
    best = -1.0
    for point in points:
        point["ratio"] = point["float32"] / point["bytes"]
        point["bits_per_parameter"] = 8 * point["weight_bytes"] / (point["float32"] / 4)
        point["pareto"] = point["accuracy"] > best
        best = max(best, point["accuracy"])
    return points


def render_plot(points, config, path):
    """Accuracy against bytes (log scale) twice: the whole front, and zoomed
    to the useful range (from 5 points below the most accurate point up),
    each with the Pareto front as a line and the anchors as marks."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    front = [p for p in points if p["pareto"]]
    titles = ("every point", "zoomed: within 5 points of the best point")
    for axis, limits, title in zip(axes, accuracy_ranges(points, config["anchors"]), titles):
        _draw(axis, points, front, config["anchors"])
        axis.set_ylim(*limits)
        axis.set_title(title, fontsize=9)
    figure.suptitle(textwrap.fill(config["title"], 110), fontsize=10)
    axes[1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: the points stay readable
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def accuracy_ranges(points, anchors):
    """The accuracy axis of the two panels: down to 5 points below the
    least accurate Pareto point or anchor, and down to 5 points below the
    most accurate point; both up to just above the best point or anchor."""
    published = [a["accuracy"] for a in anchors if a["accuracy"] is not None]
    best = max(p["accuracy"] for p in points)
    top = min(1.0, max([best] + published) + 0.01)
    low = min([p["accuracy"] for p in points if p["pareto"]] + published)
    return (max(0.0, low - 0.05), top), (max(0.0, best - 0.05), top)


def _draw(axis, points, front, anchors):
    by_technique = collections.defaultdict(list)
    for point in points:
        by_technique[point["technique"]].append(point)
    for name, group in by_technique.items():
        axis.plot([p["bytes"] for p in group], [p["accuracy"] for p in group], technique(name).marker, ms=5,
                  alpha=0.8, label=name)
    axis.plot([p["bytes"] for p in front], [p["accuracy"] for p in front], "k-", lw=0.8, label="Pareto front")
    for number, anchor in enumerate(anchors):
        color, label = f"C{7 + number % 3}", f"anchor: {anchor['name']}"
        if anchor["accuracy"] is None:  # a published size on other data: a vertical reference line
            axis.axvline(anchor["bytes"], color=color, ls="--", lw=1, label=label)
        else:
            axis.plot(anchor["bytes"], anchor["accuracy"], "*", ms=14, color=color, label=label)
    axis.set_xscale("log")
    axis.set_xlabel("shipped bytes (whole file, log scale)")
    axis.set_ylabel("test accuracy of the decoded model")
    axis.grid(True, which="major", lw=0.3, alpha=0.5)
