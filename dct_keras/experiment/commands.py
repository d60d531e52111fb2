"""The ``dct-keras`` command line (also ``python -m dct_keras``).

    dct-keras run CONFIG [--quick | --budget] [--data PATH] [--out DIR] [...]   any method's runs
    dct-keras report RESULTS [--out DIR] [--config FILE]                      table.md + plots
    dct-keras sweep CONFIG [--tuner grid|random|bayesian|hyperband] [...]     keras-tuner over p
    dct-keras compress MODEL.keras [--rows G] [--compression-rate R] ...     reorder-DCT a model
    dct-keras export MODEL.keras [--format dctk|h265|npz] --out PATH [--bits B] ship a model
    dct-keras export MODEL --format litert|onnx [--int8 --data DATA] --out PATH a runtime file, checked
    dct-keras deploy CONFIG [--budget] [--data PATH] [--out DIR]               a frontier's Pareto points in runtimes
    dct-keras load-check EXPORT [--data DATA.npz]                             decode, verify, evaluate
    dct-keras configs                                                         the shipped configs

CONFIG is a config file or the name of a shipped one (``dct-keras configs``
lists them). Every command checks its arguments and its config before the
framework loads, so ``--help`` and a bad argument answer at once; errors are
one paragraph (exit 2: usage, 1: data or results, 130: Ctrl-C).
"""

import os
import sys

from dct_keras.experiment import cli
from dct_keras.experiment.config import TIERS, apply_overrides, load_config, resolve_config
from dct_keras.experiment.errors import ConfigError
from dct_keras.experiment.loading import load_keras_model

STRATEGIES = ("none", "mirrored", "multiworker")


def main(argv=None):
    """Entry point of the console script and of ``python -m dct_keras``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return cli.run_main(_dispatch, argv)


def usage():
    """The command line's help text: the docstring without its markup."""
    return __doc__.replace("``", "`").rstrip() + "\n\n`dct-keras COMMAND --help` describes a command's options."


def _version():
    """The installed package's version, or the checkout's pyproject.toml's."""
    from importlib import metadata

    try:
        return metadata.version("dct_keras")
    except metadata.PackageNotFoundError:
        import tomllib

        path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "pyproject.toml")
        with open(path, "rb") as f:
            return tomllib.load(f)["project"]["version"] + " (a checkout, not installed)"


def _dispatch(argv):
    if argv and argv[0] in ("-h", "--help"):
        print(usage())
        return None
    if argv and argv[0] == "--version":
        print(f"dct-keras {_version()}")
        return None
    if not argv:
        raise cli.UsageError("a command is needed; the commands are " + ", ".join(COMMANDS)
                             + " (`dct-keras --help` describes them)")
    if argv[0] not in COMMANDS:
        raise cli.UsageError(f"unknown command {argv[0]!r}; the commands are {', '.join(COMMANDS)} "
                             "(`dct-keras --help` describes them)")
    return COMMANDS[argv[0]](argv[1:])


def _parser(command, description):
    return cli.Parser(prog=f"dct-keras {command}", description=description,
                      formatter_class=cli.argparse.RawDescriptionHelpFormatter)


def _add_training_options(parser):
    """The options every training command shares (defined once)."""
    tier = parser.add_mutually_exclusive_group()
    tier.add_argument("--quick", action="store_true", help="the config's smallest CPU budget (a data subset, 1-2 epochs): a smoke run")
    tier.add_argument("--budget", action="store_true", help="the config's CPU-scale evidence budget (hours on 2 cores); never the paper's protocol")
    parser.add_argument("--data", type=cli.data_path, help="local data: an official CIFAR archive or its folder, an .npz, or "
                        "'sample' (the packaged CIFAR-100 sample; never touches the network)")
    parser.add_argument("--runs", type=cli.positive_int, help="runs per setting, distinct seeds 0..N-1")
    parser.add_argument("--out", help="results folder (default: results/<experiment>[-quick|-budget])")
    parser.add_argument("--epochs", type=cli.positive_int, help="override the epoch budget")
    parser.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard event files (loss, metrics, learning rate, "
                        "kept fractions) under DIR; view them with `tensorboard --logdir DIR`")
    parser.add_argument("--strategy", choices=STRATEGIES, default="none", help="tf.distribute strategy (default: %(default)s)")


def _tier(args):
    return "quick" if args.quick else "budget" if args.budget else None


def _load(config_arg):
    """The config as written (a path or a shipped name); `UsageError` naming it."""
    try:
        return load_config(resolve_config(config_arg))
    except ConfigError as error:
        raise cli.UsageError(f"CONFIG {config_arg}: {error}") from None


def _effective(full, args, config_arg):
    tier = _tier(args)
    if tier and tier not in full:
        raise cli.UsageError(f"--{tier}: {config_arg} defines no '{tier}' budget (it has: "
                             f"{[t for t in TIERS if t in full] or 'none'})")
    recipe = getattr(args, "recipe", None)
    if recipe is not None and recipe not in full.get("recipes", {}):
        raise cli.UsageError(f"--recipe {recipe}: {config_arg} has " + (f"the recipes {sorted(full['recipes'])}" if "recipes" in full
                                                                         else "no recipes to choose from"))
    config = apply_overrides(full, tier=tier, epochs=args.epochs, runs=args.runs, recipe=recipe)
    if args.out is None:
        other_recipe = f"-{recipe}" if recipe not in (None, full.get("recipe")) else ""
        args.out = os.path.join("results", full["experiment"] + other_recipe + (f"-{tier}" if tier else ""))
    return config


def _config_arg(argv):
    """The CONFIG positional: the first argument (None when it is an option)."""
    return argv[0] if argv and not argv[0].startswith("-") else None


def _with_method_options(parser, argv):
    """Loads CONFIG (the first argument) and adds its method's options to
    ``parser``; returns ``(config as written, method class)`` or Nones."""
    config_arg = _config_arg(argv)
    if config_arg is None:
        return None, None
    full = _load(config_arg)
    from dct_keras.experiment.protocol import method_class

    method_cls = method_class(full["method"])
    method_cls.add_arguments(parser.add_argument_group(f"options of the {full['method']} method"))
    return full, method_cls


# ---------------------------------------------------------------- run
def run(argv):
    """Runs (or resumes) the runs of a config's selection, then its report."""
    parser = _parser("run", "Train and evaluate the runs of a config (any method), resumably; then write its report.\n\n"
                     "Method options (--block / --switch-off, --models / --settings, --rows / --compression-rates, ...)\n"
                     "depend on the config's method: `dct-keras run CONFIG --help` lists them.")
    parser.add_argument("config", metavar="CONFIG", help="a config file or the name of a shipped config (`dct-keras configs`)")
    _add_training_options(parser)
    parser.add_argument("--session-epochs", type=cli.positive_int, help="stop after this many epochs in this invocation (rerun to resume)")
    parser.add_argument("--augment", action="store_true", help="random crop + flip, whatever the config says")
    full, method_cls = _with_method_options(parser, argv)
    args = parser.parse_args(argv)
    config = _effective(full, args, args.config)
    if args.augment:
        config["augment"] = True
    method = method_cls(method_cls.configure(config, args))
    plan = cli.require_nonempty(method.plan(args), " ".join(argv))

    cli.import_framework()
    from dct_keras.experiment.data import prepare_data
    from dct_keras.experiment.report import render_folder
    from dct_keras.experiment.runner import Runner
    from dct_keras.experiment.tables import plural

    dataset = _dataset(config, args)
    data = prepare_data(config, dataset, method.input_requirements())
    epochs = sorted({config["epochs"] if spec.epochs is None else spec.epochs for spec in plan})
    epochs_text = plural(epochs[0], "epoch") + " each" if len(epochs) == 1 else f"{'/'.join(map(str, epochs))} epochs"
    print(f"{config['title']}: {plural(len(plan), 'run')}, {epochs_text} ({config['tier']} tier), "
          f"{len(dataset.x_train):,} train / {len(dataset.x_test):,} test images of {dataset.source.split(' (')[0]} "
          f"({dataset.num_classes} classes), results in {args.out}")
    method.setup(data, args.out, print, fit_verbosity())
    runner = Runner(method, data, args.out, strategy=_strategy(args.strategy), session_epochs=args.session_epochs,
                    verbose=fit_verbosity(), tensorboard_dir=args.tensorboard)
    runner.run_all(plan)
    if config["tier"] == "quick":
        _learning_check(method, plan[0], data, args.out)
    markdown, paths = render_folder(args.out, config=full)
    print(markdown)
    print("wrote " + ", ".join(paths))


def _learning_check(method, spec, data, out):
    """The quick tier's sign of life (its real numbers sit near chance):
    `runner.learning_check` of the first run, printed and kept beside the
    results (`table.md` shows it)."""
    import json

    from dct_keras.experiment.config import config_hash
    from dct_keras.experiment.results import LEARNING_CHECK_FILE, learns
    from dct_keras.experiment.runner import learning_check
    from dct_keras.files import write_atomically

    path = os.path.join(out, LEARNING_CHECK_FILE)
    identity = config_hash(method.config, data.identity)
    try:
        with open(path, encoding="utf-8") as f:
            if json.load(f).get("config_hash") == identity:
                print("Learning check: done earlier for this config and data (in table.md).")
                return
    except (OSError, ValueError):
        pass
    print(f"Learning check: {spec.key} with fresh weights, Adam 1e-3 on one batch of training images for 40 steps "
          "(about a minute on 2 CPU cores) ...", flush=True)
    check = {**learning_check(method, spec, data), "config_hash": identity}
    print(f"Learning check: training loss {check['loss_first']:.4g} at step 1 -> {check['loss_last']:.4g} at step "
          f"{check['steps']} (perfect: {check['loss_floor']:.4g}): " + ("it learns." if learns(check) else
                                                                        "it does not learn, look for a defect."))
    write_atomically(path, json.dumps(check))


def _dataset(config, args):
    """The run's images (the tier's subset applied), or a `RunError`."""
    from dct_keras.experiment.data import SAMPLES, DatasetUnavailableError, load_image_dataset

    tier = _tier(args)
    try:
        dataset = load_image_dataset(config["dataset"], path=args.data)
    except DatasetUnavailableError as error:
        if args.data is not None or tier != "quick" or config["dataset"] not in SAMPLES:
            raise
        print(f"{str(error).splitlines()[0]}\n--quick runs on the packaged {config['dataset']} sample instead "
              "(a smoke test of the pipeline: too few images to learn, accuracies near chance are expected; "
              "--data PATH for real data).", file=sys.stderr)
        dataset = load_image_dataset(config["dataset"], path="sample")
    if tier:
        dataset = dataset.subset(config[tier].get("train_examples"), config[tier].get("test_examples"))
    return dataset


def _strategy(name):
    """The `tf.distribute` strategy named on the command line (None for "none")."""
    if name == "none":
        return None
    import tensorflow as tf

    return tf.distribute.MirroredStrategy() if name == "mirrored" else tf.distribute.MultiWorkerMirroredStrategy()


def fit_verbosity():
    """Progress bars on a terminal, one line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2


# ---------------------------------------------------------------- report
def report(argv):
    parser = _parser("report", "Render the table(s) and plots of a results folder (any method).")
    parser.add_argument("results", metavar="RESULTS", help="a results folder (holding results.jsonl) or the file itself")
    parser.add_argument("--out", help="output folder (default: the results folder)")
    parser.add_argument("--config", help="the config the runs used, when it is not a shipped one")
    args = parser.parse_args(argv)
    from dct_keras.experiment.report import render_folder, results_file

    if not os.path.exists(args.results):
        raise cli.UsageError(f"results path {args.results!r} does not exist; pass a folder holding results.jsonl (the --out "
                             "of a run or sweep) or the file itself")
    if not os.path.isfile(results_file(args.results)):
        raise cli.UsageError(f"{args.results!r} holds no results.jsonl: nothing has finished there yet (a run writes its row "
                             "when it completes), or it is not a results folder")
    config = _load(args.config) if args.config else None
    from dct_keras.experiment.results import read_rows

    if not read_rows(results_file(args.results)):
        raise cli.RunError(f"no complete result rows in {results_file(args.results)}: no run has finished there yet")
    markdown, paths = render_folder(args.results, config=config, out_dir=args.out)
    print(markdown)
    print("wrote " + ", ".join(paths))


# ---------------------------------------------------------------- sweep
TUNERS = ("grid", "random", "bayesian", "hyperband")  # dct_keras.experiment.sweep.TUNERS, named before any import
VALIDATION_FRACTION = 0.1


def sweep(argv):
    """keras-tuner over the switch-off p of a DCT-Conv config."""
    parser = _parser("sweep", """keras-tuner sweep of the switch-off p (Table V's p) of a DCT-Conv config.

Every trial trains the config's model with its regime for the p and switch-off policy the tuner picks,
--runs executions with seeds 0, 1, ...; the objective is the final test metric (grid) or a validation
split's (random / bayesian / hyperband; the test metric is reported beside it). Each execution writes a
result row to <out>/results.jsonl (`dct-keras report <out>` renders it beside Table V), the tuner's
state goes to <out>/tuner/; rerunning resumes. Several machines: keras-tuner's chief / worker mode, with
a shared --out and KERASTUNER_ORACLE_IP / KERASTUNER_ORACLE_PORT / KERASTUNER_TUNER_ID set.""")
    parser.add_argument("config", metavar="CONFIG", help="a DCT-Conv config (problem1_resnet50 ... problem4_autoencoder2)")
    _add_training_options(parser)
    parser.add_argument("--block", default=None, help="a Table V block of the config (all, spatial) or freqreg (default: the first)")
    values = parser.add_mutually_exclusive_group()
    values.add_argument("--switch-off", "--p", dest="switch_off", type=cli.probability, nargs="+", metavar="P",
                        help="the p values (default: the block's Table V grid)")
    values.add_argument("--switch-off-range", "--p-range", dest="switch_off_range", type=cli.probability, nargs=2,
                        metavar=("MIN", "MAX"), help="p as a float range instead")
    parser.add_argument("--switch-off-step", "--p-step", dest="switch_off_step", type=cli.positive_float,
                        help="step of --switch-off-range (needed by the grid tuner)")
    parser.add_argument("--policy", nargs="+", choices=("random", "tail"), default=["random", "tail"],
                        help="switch-off policies to sweep (default: both)")
    parser.add_argument("--tuner", choices=TUNERS, default="grid", help="keras-tuner search (default: %(default)s)")
    parser.add_argument("--max-trials", type=cli.positive_int, help="trial budget (required by random / bayesian)")
    parser.add_argument("--gamma", type=cli.probability, help="TailDropout speed of --block freqreg (default: 1%% of the gap left at the last epoch)")
    parser.add_argument("--overwrite", action="store_true", help="restart the tuner's state (runs in results.jsonl are still reused)")
    args = parser.parse_args(argv)
    full = _load(args.config)
    if full["method"] != "dct_conv":
        raise cli.UsageError(f"CONFIG {args.config}: a sweep of p needs a DCT-Conv config (method dct_conv), not {full['method']!r}")
    if args.switch_off_step is not None and args.switch_off_range is None:
        raise cli.UsageError("--switch-off-step needs --switch-off-range")
    if args.switch_off_range is not None and not args.switch_off_range[0] < args.switch_off_range[1]:
        raise cli.UsageError(f"--switch-off-range {args.switch_off_range[0]:g} {args.switch_off_range[1]:g}: MIN must be below MAX")
    if args.tuner == "grid" and args.switch_off_range is not None and args.switch_off_step is None:
        raise cli.UsageError("--tuner grid over --switch-off-range needs --switch-off-step")
    if args.tuner in ("random", "bayesian") and not args.max_trials:
        raise cli.UsageError(f"--tuner {args.tuner} needs --max-trials")
    if args.gamma == 0:
        raise cli.UsageError("--gamma 0: the tail-dropout speed must be in (0, 1]")
    block = args.block or next(iter(full["blocks"]))
    if block != "freqreg" and block not in full["blocks"]:
        raise cli.UsageError(f"--block {block}: the config's blocks are {sorted(full['blocks'])} (or freqreg)")
    tier = _tier(args)
    if args.out is None:
        args.out = os.path.join("results", "sweep", full["experiment"] + (f"-{tier}" if tier else ""), block)
    config = _effective(full, args, args.config)

    cli.import_framework()
    from dct_keras.experiment.data import prepare_data
    from dct_keras.experiment.dct_conv import DCTConv
    from dct_keras.experiment.sweep import SwitchOffHyperModel, make_tuner, summarize
    from dct_keras.experiment.tables import plural

    dataset = _dataset(config, args)
    data = prepare_data(config, dataset, DCTConv(config).input_requirements())
    strategy = _strategy(args.strategy)
    p_range = None if args.switch_off_range is None else (*args.switch_off_range, *([args.switch_off_step] if args.switch_off_step else []))
    # Searches that select or stop trials on data see a validation split held
    # out from the training data; the test set is only reported.
    selects = args.tuner != "grid"
    if selects:
        cut = len(data.x_train) - max(1, int(VALIDATION_FRACTION * len(data.x_train)))
        x_train, y_train, validation = data.x_train[:cut], data.y_train[:cut], (data.x_train[cut:], data.y_train[cut:])
    else:
        x_train, y_train, validation = data.x_train, data.y_train, (data.x_test, data.y_test)
    variant = "freqreg" if block == "freqreg" else full["blocks"][block]["variant"]
    try:
        hypermodel = SwitchOffHyperModel(
            config, data.x_train.shape[1:], data.num_classes, args.out, variant=variant, block=block,
            p_values=args.switch_off, p_range=p_range, policies=args.policy, gamma=args.gamma,
            source=dataset.source, verbose=fit_verbosity(), data_identity=data.identity,
            test_data=(data.x_test, data.y_test) if selects else None,
        )
    except ValueError as error:
        raise cli.UsageError(str(error)) from None
    role = os.environ.get("KERASTUNER_TUNER_ID", "tuner0") if "KERASTUNER_ORACLE_IP" in os.environ else "single machine"
    split = (f"objective on a {len(validation[0])}-image validation split of the training data (test reported only)"
             if selects else "objective on the test split (a grid selects nothing)")
    print(f"{config['title']}: {args.tuner} sweep of p over {hypermodel.p_range or hypermodel.p_values}, policies "
          f"{list(hypermodel.policies)}, variant {variant}, {plural(config['runs'], 'run')} per trial, {plural(config['epochs'], 'epoch')}, "
          f"{len(x_train)} train examples of {dataset.source}; {split}; {role}; results in {args.out}")
    tuner = make_tuner(args.tuner, hypermodel, args.out, max_trials=args.max_trials,
                       executions_per_trial=config["runs"], overwrite=args.overwrite, distribution_strategy=strategy)
    tensorboard = []
    if args.tensorboard:
        import keras

        tensorboard = [keras.callbacks.TensorBoard(args.tensorboard)]
    tuner.search(x_train, y_train, validation_data=validation, verbose=1, callbacks=tensorboard)
    if role != "single machine" and "chief" not in role:
        print(f"{role}: no trials left. The chief prints the summary.")
        return
    failed = summarize(tuner, hypermodel)
    print(f"Report: dct-keras report {args.out}")
    if failed:
        raise cli.RunError(f"{failed} trial(s) did not complete; their errors are above. Rerun the command to retry them.")


# ---------------------------------------------------------------- compress
def compress(argv):
    """reorder-DCT on a user's trained .keras model."""
    from dct_keras.experiment.reorder import STRATEGIES

    parser = _parser("compress", """Compress a trained Keras model by reorder-DCT (reorder_dct_compression.txt).

Writes <out>/compressed.keras and a report (report.json and report.md: per layer and in total the
parameters before and after, order vectors included, trainable parameters, nSSE, file sizes). With
--finetune-data (arrays x_train, y_train, x_test, y_test) it also gives the test accuracy of the
original model, of the compressed one, and after one epoch of fine-tuning (no augmentation, SGD
momentum 0.9, lr 0.001 x batch / 256, §4.2), and saves finetuned.keras. The model file is loaded in
Keras's safe mode (no code runs from it).""")
    parser.add_argument("model", metavar="MODEL", nargs="?", type=cli.existing_path,
                        help="the trained model (.keras), as `export MODEL` takes it")
    parser.add_argument("--model", dest="model_option", type=cli.existing_path, metavar="MODEL",
                        help="the same, as an option (earlier spelling, still accepted)")
    parser.add_argument("--rows", "--groups", dest="rows", type=cli.positive_int, default=4,
                        help="g, the rows every kernel is reshaped into (the paper's 'groups'; default: %(default)s)")
    parser.add_argument("--compression-rate", "--rate", dest="compression_rate", type=cli.positive_float, default=8,
                        help="r of uniform / progressive-g, >= 1 (default: %(default)s)")
    parser.add_argument("--r0", type=cli.positive_float, help="r0 of progressive-r")
    parser.add_argument("--strategy", choices=STRATEGIES, default="uniform",
                        help="uniform: g and r for every layer; progressive-r: r grows with the layer's size from --r0; "
                             "progressive-g: g grows with it (§3; default: %(default)s)")
    parser.add_argument("--distance", choices=["euclidean", "cosine"], default="euclidean",
                        help="the distance Alg. 1 orders the kernel's rows by (default: %(default)s)")
    parser.add_argument("--skip", nargs="*", help="layers left uncompressed (default: the first Conv2D)")
    parser.add_argument("--no-reorder", action="store_true", help="the baseline without Alg. 1")
    parser.add_argument("--finetune-data", type=cli.existing_path, help=".npz with x_train, y_train, x_test, y_test")
    parser.add_argument("--batch-size", type=cli.positive_int, default=64,
                        help="the fine-tune's batch (its learning rate scales with it; default: %(default)s)")
    parser.add_argument("--input-normalization", choices=["eq4", "unit", "raw"], default="eq4",
                        help="how the images feed the model: eq. (4) with training statistics, [0, 1], or as stored")
    parser.add_argument("--out", help="output folder (default: next to the model, <name>-reorder)")
    args = parser.parse_args(argv)
    if (args.model is None) == (args.model_option is None):
        raise cli.UsageError("compress takes one model: `dct-keras compress MODEL.keras` (or --model MODEL.keras)")
    args.model = args.model or args.model_option
    if args.strategy == "progressive-r" and args.r0 is None:
        raise cli.UsageError("--strategy progressive-r needs --r0 (the paper uses 0.125 - 2)")
    if args.compression_rate < 1:
        raise cli.UsageError(f"--compression-rate {args.compression_rate:g}: a compression rate must be >= 1")
    if not args.model.endswith(".keras"):
        raise cli.UsageError(f"MODEL {args.model}: expected a .keras file")
    args.out = args.out or os.path.splitext(args.model)[0] + "-reorder"

    cli.import_framework()
    from dct_keras.experiment.reorder import compress_file

    text, paths = compress_file(args)
    print(text)
    print("wrote " + ", ".join(paths))


# ---------------------------------------------------------------- export / load-check
FORMATS = ("dctk", "h265", "npz", "litert", "onnx")
RUNTIMES = {"litert": ".tflite", "onnx": ".onnx"}  # dct_keras.export.runtime.SUFFIXES, named before the framework loads


def export(argv):
    parser = _parser("export", "Ship a trained model: the shipping format (.dctk: kept coefficients, quantized, LZMA;\n"
                               "any model), H.265 video of its coefficients (CTNet's codec: a folder), the\n"
                               "kept-coefficient .npz (loads into the same architecture), or a runtime file: LiteRT\n"
                               "(.tflite, float or --int8 full-integer) or ONNX, the spectral layers folded first and\n"
                               "the file checked in its runtime (pip install \"dct_keras[deploy]\").")
    parser.add_argument("model", metavar="MODEL", type=cli.existing_path,
                        help="the trained model (.keras; for litert / onnx also a shipped .dctk)")
    parser.add_argument("--format", choices=FORMATS, default="dctk")
    parser.add_argument("--out", required=True, help="the .dctk file, the export folder (h265), the .npz file (npz), "
                                                     "the .tflite file (litert) or the .onnx file (onnx)")
    parser.add_argument("--bits", type=int, default=8,
                        help="dctk: 32 (float32, exact), 16 (float16), or 2-15 (integer codes with a scale per "
                             "output channel; default: %(default)s)")
    parser.add_argument("--bit-depth", type=int, choices=[8, 10, 12], default=8, help="h265: bits per pixel")
    parser.add_argument("--crf", type=int, help="h265: lossy, x265's constant rate factor 0-51 (default: lossless)")
    parser.add_argument("--preset", default="medium", help="h265: x265 preset")
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16", help="npz: value type")
    parser.add_argument("--int8", action="store_true", help="litert: full-integer (int8 weights, activations, input "
                                                            "and output), calibrated on --data's training images")
    parser.add_argument("--data", type=cli.existing_path,
                        help="litert / onnx: an .npz with x_train, y_train, x_test, y_test (or a CIFAR archive): "
                             "the training images calibrate --int8, the test images check the file in its runtime")
    parser.add_argument("--input-normalization", choices=list(NORMALIZATIONS), default="eq4",
                        help="litert / onnx: how --data's images feed the model, as it was trained (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.crf is not None and not 0 <= args.crf <= 51:
        raise cli.UsageError(f"--crf {args.crf}: x265's constant rate factor is in 0-51")
    if not (args.bits in (16, 32) or 2 <= args.bits <= 16):
        raise cli.UsageError(f"--bits {args.bits}: expected 32, 16 or an integer in [2, 16]")
    if args.int8 and args.format != "litert":
        raise cli.UsageError(f"--int8: full-integer files are LiteRT's (--format litert), not {args.format}'s")
    if args.int8 and args.data is None:
        raise cli.UsageError("--int8: a full-integer file calibrates its activation ranges on real inputs; pass "
                             "--data with the training images")
    if args.data is not None and args.format not in RUNTIMES:
        raise cli.UsageError(f"--data: used by the litert and onnx formats only, not {args.format}")
    suffix = {"dctk": ".dctk", "npz": ".npz", **RUNTIMES}.get(args.format)
    if suffix and not args.out.endswith(suffix):
        raise cli.UsageError(f"--out {args.out}: the {args.format} format writes one {suffix} file")
    if os.path.isdir(args.out) and suffix:
        raise cli.UsageError(f"--out {args.out}: is a folder; the {args.format} format writes a file")
    if args.format == "h265" and os.path.isfile(args.out):
        raise cli.UsageError(f"--out {args.out}: is a file; the h265 format writes a folder")
    if args.format in RUNTIMES:
        return _export_runtime(args)
    cli.import_framework()
    model = load_keras_model(args.model, "MODEL")
    if args.format == "dctk":
        from dct_keras.export.ship import save_shipped

        report = save_shipped(model, args.out, bits=args.bits)
        parts = ", ".join(f"{k} {v:,} B" for k, v in report["bytes"].items())
        print(f"wrote {args.out}: {parts} ({report['ratio']:.1f}x smaller than float32 parameters)")
        return
    if args.format == "npz":
        from dct_keras.export import save_compressed

        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        save_compressed(model, args.out, dtype=args.dtype)
        print(f"wrote {args.out} ({os.path.getsize(args.out):,} B)")
        return
    from dct_keras.export.h265 import export_h265

    try:
        sizes = export_h265(model, args.out, bit_depth=args.bit_depth, lossless=args.crf is None, crf=args.crf, preset=args.preset)
    except ValueError as error:  # the arguments were checked above: what is left is about the model
        raise cli.RunError(f"MODEL {args.model}: {error}") from None
    print(f"wrote {args.out}: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v:g}" for k, v in sizes.items()))


def _export_runtime(args):
    """``export --format litert|onnx``: the runtime file, and with ``--data``
    its outputs and accuracy in its runtime beside the Keras model's."""
    dataset = _evaluation_data(args.data) if args.data else None  # a bad file is named before the framework loads
    cli.import_framework()
    from dct_keras.export import runtime

    model = _shipped_or_keras(args.model)
    from dct_keras.experiment.data import normalize_like

    if dataset is not None:
        _check_matches_model(model, dataset, args.data)
    shape = (-1, *model.input_shape[1:])  # grayscale images gain their channel axis
    feed = None if dataset is None else (lambda x: normalize_like(dataset, args.input_normalization)(x).reshape(shape))
    try:
        sizes = runtime.export_runtime(model, args.out, format=args.format, int8=args.int8,
                                       representative=None if feed is None else feed(dataset.x_train[:runtime.REPRESENTATIVE_EXAMPLES]))
    except (runtime.RuntimeExportError, runtime.MissingDependencyError) as error:
        raise cli.RunError(f"MODEL {args.model}: {error}") from None
    kind = f"{args.format}{' full-integer (int8)' if args.int8 else ' float32'}"
    print(f"wrote {args.out}: {kind}, {sizes['bytes']:,} B ({sizes['gzip_bytes']:,} B gzipped)")
    if dataset is None:
        return
    import numpy as np

    x_test = feed(dataset.x_test)
    try:
        got = runtime.runtime_predict(args.out, x_test)
    except runtime.MissingDependencyError as error:
        raise cli.RunError(str(error)) from None
    expected = model.predict(x_test, batch_size=256, verbose=0)
    error = float(np.max(np.abs(got - expected)) / max(float(np.max(np.abs(expected))), 1e-12))
    ours, theirs = (float(np.mean(np.argmax(y, -1) == dataset.y_test.reshape(-1))) for y in (got, expected))
    print(f"in its runtime on {len(x_test):,} test images of {dataset.source}: accuracy {ours:.4f} (the Keras model: "
          f"{theirs:.4f}, {100 * (theirs - ours):+.2f} points lost), outputs within {error:.2g} of the Keras model's "
          "(relative to their largest magnitude)")


def _shipped_or_keras(path):
    """The model of a ``.dctk`` or ``.keras`` file, or a `RunError` naming it."""
    if not path.endswith(".dctk"):
        return load_keras_model(path, "MODEL")
    from dct_keras.decode import ShippedFormatError
    from dct_keras.export.ship import load_shipped

    try:
        return load_shipped(path)
    except ShippedFormatError as error:
        raise cli.RunError(f"MODEL {path}: {error}") from None


def deploy(argv):
    """A frontier's Pareto points as runtime files, measured in their runtimes."""
    parser = _parser("deploy", "Export every Pareto point of a frontier's results (its shipped .dctk) as a full-integer\n"
                               "LiteRT file and a float ONNX file, evaluate each in its runtime on the test images the\n"
                               "run used, and add their table to table.md (pip install \"dct_keras[deploy]\").")
    parser.add_argument("config", metavar="CONFIG", help="the frontier config the results ran (a file or a shipped name)")
    tier = parser.add_mutually_exclusive_group()
    tier.add_argument("--quick", action="store_true", help="the results of the config's quick tier")
    tier.add_argument("--budget", action="store_true", help="the results of the config's budget tier")
    parser.add_argument("--data", type=cli.data_path, help="the local data the runs used (as for `dct-keras run`)")
    parser.add_argument("--out", help="the results folder (default: results/<experiment>[-quick|-budget])")
    parser.set_defaults(epochs=None, runs=None)
    args = parser.parse_args(argv)
    full = _load(args.config)
    if full["method"] != "frontier":
        raise cli.UsageError(f"CONFIG {args.config}: a {full['method']} config; deploy measures a frontier's Pareto points")
    config = _effective(full, args, args.config)
    from dct_keras.experiment.report import results_file
    from dct_keras.experiment.results import read_rows

    rows = read_rows(results_file(args.out)) if os.path.isfile(results_file(args.out)) else []
    if not rows:
        raise cli.RunError(f"--out {args.out}: no result rows (results.jsonl) there: run the frontier first "
                           f"(`dct-keras run {args.config}`), or name its folder")
    cli.import_framework()
    from dct_keras.experiment.data import prepare_data
    from dct_keras.experiment.deploy import deploy_front
    from dct_keras.experiment.frontier import Frontier, frontier_points
    from dct_keras.experiment.report import render_folder
    from dct_keras.export.runtime import MissingDependencyError, RuntimeExportError

    dataset = _dataset(config, args)
    data = prepare_data(config, dataset, Frontier(config).input_requirements())
    ran_on = {row.get("data_sha256") for row in rows}
    if ran_on != {(data.identity or {}).get("sha256")}:
        raise cli.RunError(f"--data {args.data}: not the data the rows of {args.out} were measured on (their content "
                           f"hash {', '.join(sorted(map(str, ran_on)))}); pass the --data and tier the runs used")
    try:
        deploy_front(frontier_points(rows), data, args.out)
    except (MissingDependencyError, RuntimeExportError) as error:
        raise cli.RunError(str(error)) from None
    markdown, paths = render_folder(args.out, config=full)
    print(markdown)
    print("wrote " + ", ".join(paths))


def load_check(argv):
    parser = _parser("load-check", "Decode a shipped model, verify it against its probe and optionally evaluate it.")
    parser.add_argument("export", metavar="EXPORT", type=cli.existing_path,
                        help="a .dctk file, an H.265 export folder, or an .npz with --model")
    parser.add_argument("--model", type=cli.existing_path, help="npz: the .keras model of the same architecture")
    parser.add_argument("--data", type=cli.existing_path, help="an .npz with x_test, y_test (or a CIFAR archive) to evaluate on")
    parser.add_argument("--input-normalization", choices=list(NORMALIZATIONS), default="eq4",
                        help="how the images feed the model, as it was trained: eq. (4) per-channel standardization "
                             "with the training images' statistics (the reproductions' choice), [0, 1], or as stored "
                             "(default: %(default)s)")
    args = parser.parse_args(argv)
    if args.export.endswith(".npz") and args.model is None:
        raise cli.UsageError(f"EXPORT {args.export}: an .npz holds weights only; pass --model with the architecture (.keras)")
    dataset = _evaluation_data(args.data) if args.data else None  # a bad file is named before the framework loads
    cli.import_framework()
    if os.path.isdir(args.export):
        from dct_keras.export.h265 import H265FormatError, load_h265

        try:
            model = load_h265(args.export)
        except H265FormatError as error:
            raise cli.RunError(str(error)) from None
        print(f"{args.export}: decoded, the probe matches")
    elif args.export.endswith(".npz"):
        from dct_keras.export import load_compressed

        model = load_keras_model(args.model, "--model")
        try:
            load_compressed(model, args.export)
        except ValueError as error:
            raise cli.RunError(str(error)) from None
        print(f"{args.export}: loaded into {args.model}")
    else:
        from dct_keras.decode import ShippedFormatError
        from dct_keras.export.ship import load_shipped

        try:
            model = load_shipped(args.export)
        except ShippedFormatError as error:
            raise cli.RunError(str(error)) from None
        print(f"{args.export}: decoded, the probe matches")
    if dataset is not None:
        from dct_keras.experiment.data import normalize_like

        _check_matches_model(model, dataset, args.data)
        x_test = normalize_like(dataset, args.input_normalization)(dataset.x_test)
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        scores = model.evaluate(x_test, dataset.y_test, batch_size=256, verbose=0, return_dict=True)
        print(f"test accuracy on {dataset.source}: {scores['accuracy']:.4f} ({len(x_test):,} images; inputs "
              f"{NORMALIZATIONS[args.input_normalization]}, --input-normalization {args.input_normalization})")


NORMALIZATIONS = {"eq4": "standardized per channel by the training images' mean and std (eq. (4))",
                  "unit": "scaled to [0, 1]", "raw": "as stored"}


def _check_matches_model(model, dataset, path):
    """A `RunError` naming ``--data`` unless its images and labels fit ``model``."""
    expected, got = tuple(model.input_shape[1:]), tuple(dataset.x_test.shape[1:])
    if got != expected and got + (1,) != expected:
        raise cli.RunError(f"--data {path}: images of shape {got}, but the model takes inputs of shape {expected}.")
    if dataset.num_classes > model.output_shape[-1]:
        raise cli.RunError(f"--data {path}: labels up to {dataset.num_classes - 1}, but the model has "
                           f"{model.output_shape[-1]} outputs.")


def _evaluation_data(path):
    """The images of ``--data`` (NumPy only), or a `RunError` naming the file."""
    from dct_keras.experiment.data import DataShapeError, DatasetUnavailableError, load_image_dataset

    try:
        dataset = load_image_dataset(path=path)
        dataset.check_images()
        return dataset
    except (DatasetUnavailableError, DataShapeError) as error:
        raise cli.RunError(f"--data {path}: " + str(error).splitlines()[0].removeprefix(f"{path}: ")
                           + " --data is an .npz with x_train, y_train, x_test, y_test (the training "
                           "images give the normalization statistics) or an official CIFAR archive.") from None


def configs(argv):
    parser = _parser("configs", "List the shipped configs: name, method, title.")
    parser.parse_args(argv)
    from dct_keras.experiment.config import CONFIG_DIR, config_names

    for name in config_names():
        config = load_config(os.path.join(CONFIG_DIR, f"{name}.json"))
        print(f"{name:<24} {config['method']:<9} {config['title']}")


COMMANDS = {"run": run, "report": report, "sweep": sweep, "compress": compress, "export": export,
            "deploy": deploy, "load-check": load_check, "configs": configs}
