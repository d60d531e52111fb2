"""keras-tuner sweep of the switch-off probability p of a DCT-Conv problem.

    python reproductions/sweep_p.py --problem N [--variant all|spatial|freqreg]
        [--p 0.3 0.5 0.9 | --p-range MIN MAX [--p-step S]] [--policy random tail]
        [--tuner grid|random|bayesian|hyperband] [--max-trials N] [--runs N]
        [--quick] [--data PATH] [--epochs N] [--out DIR] [--overwrite]
        [--strategy none|mirrored|multiworker] [--gamma G]

Every trial trains the problem's model with its regime (dct_conv.txt §V) for
p and the switch-off policy the tuner picks, ``--runs`` executions with seeds
0, 1, ...; the objective is the final test accuracy (max) or MSE (min). Each
execution writes a JSON line to ``<out>/results.jsonl`` (the reproductions'
format: ``python reproductions/report.py <out>`` renders it beside Table V) and
the tuner's state goes to ``<out>/tuner/``. Rerunning the same command resumes:
finished trials are kept, an interrupted one restarts from its last epoch.

Several machines (keras-tuner's chief / worker mode): run the same command on
every machine, with a shared ``--out`` folder and the environment variables
``KERASTUNER_ORACLE_IP`` / ``KERASTUNER_ORACLE_PORT`` (the chief's address) and
``KERASTUNER_TUNER_ID`` (``chief`` on the one that only hands out trials,
``tuner0``, ``tuner1``, ... on the workers).
"""

import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import ROOT, cli, fit_verbosity, load_dataset, make_strategy  # noqa: E402

STRATEGIES = ("none", "mirrored", "multiworker")
TUNERS = ("grid", "random", "bayesian", "hyperband")  # dct_keras.experiment.sweep.TUNERS, named here before any import
POLICIES = ("random", "tail")
VALIDATION_FRACTION = 0.1


def parse_args(argv=None):
    parser = cli.base_parser(__doc__.splitlines()[0], None)
    parser.add_argument("--problem", type=int, required=True, choices=[1, 2, 3, 4], help="DCT-Conv problem number, picks configs/problem<N>_*.json")
    parser.add_argument("--variant", default="all", help="a Table V block of the config (all, spatial) or freqreg (default: %(default)s)")
    values = parser.add_mutually_exclusive_group()
    values.add_argument("--p", type=cli.probability, nargs="+", help="the p values of the grid (default: the config block's Table V grid)")
    values.add_argument("--p-range", type=cli.probability, nargs=2, metavar=("MIN", "MAX"), help="p as a float range instead")
    parser.add_argument("--p-step", type=cli.positive_float, help="step of --p-range (needed by the grid tuner)")
    parser.add_argument("--policy", nargs="+", choices=POLICIES, default=list(POLICIES), help="switch-off policies to sweep (default: both)")
    parser.add_argument("--tuner", choices=TUNERS, default="grid", help="keras-tuner search (default: %(default)s)")
    parser.add_argument("--max-trials", type=cli.positive_int, help="trial budget (required by random / bayesian)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="none", help="tf.distribute strategy of each trial")
    parser.add_argument("--gamma", type=cli.probability, help="TailDropout speed of --variant freqreg (default: 1%% of the gap left at the last epoch)")
    parser.add_argument("--overwrite", action="store_true", help="restart the tuner's state (runs in results.jsonl are still reused)")
    args = parser.parse_args(argv)
    if args.config is None:
        matches = sorted(glob.glob(os.path.join(ROOT, "configs", f"problem{args.problem}_*.json")))
        if not matches:
            parser.error(f"--problem {args.problem}: no configs/problem{args.problem}_*.json")
        args.config = matches[0]
    if args.p_step is not None and args.p_range is None:
        parser.error("--p-step needs --p-range")
    if args.p_range is not None and not args.p_range[0] < args.p_range[1]:
        parser.error(f"--p-range {args.p_range[0]:g} {args.p_range[1]:g}: MIN must be below MAX")
    if args.tuner == "grid" and args.p_range is not None and args.p_step is None:
        parser.error("--tuner grid over --p-range needs --p-step")
    if args.tuner in ("random", "bayesian") and not args.max_trials:
        parser.error(f"--tuner {args.tuner} needs --max-trials")
    if args.gamma == 0:
        parser.error("--gamma 0: the tail-dropout speed must be in (0, 1]")
    return args


def main(argv=None):
    args = parse_args(argv)
    config_name = os.path.splitext(os.path.basename(args.config))[0]
    tier = cli.tier_of(args)
    if args.out is None:
        args.out = os.path.join(ROOT, "results", "sweep_p", config_name + (f"-{tier}" if tier else ""), args.variant)
    _, config = cli.load_effective_config(args, ROOT)
    blocks = config["blocks"]
    if args.variant != "freqreg" and args.variant not in blocks:
        raise cli.UsageError(f"--variant {args.variant}: the config's blocks are {sorted(blocks)} (or freqreg)")
    variant = "freqreg" if args.variant == "freqreg" else blocks[args.variant]["variant"]

    cli.import_framework()
    from dct_keras.experiment.runner import prepare_data
    from dct_keras.experiment.sweep import SwitchOffHyperModel, make_tuner

    dataset = load_dataset(config, args)
    data = prepare_data(config, dataset)
    strategy = make_strategy(args.strategy)
    p_range = None if args.p_range is None else (*args.p_range, *([args.p_step] if args.p_step else []))
    # Searches that select or stop trials on data see a validation split held
    # out from the training data; the test set is only reported.
    selects = args.tuner != "grid"
    if selects:
        cut = len(data.x_train) - max(1, int(VALIDATION_FRACTION * len(data.x_train)))
        x_train, y_train, validation = data.x_train[:cut], data.y_train[:cut], (data.x_train[cut:], data.y_train[cut:])
    else:
        x_train, y_train, validation = data.x_train, data.y_train, (data.x_test, data.y_test)
    try:
        hypermodel = SwitchOffHyperModel(
            config, data.x_train.shape[1:], data.num_classes, args.out, variant=variant, block=args.variant,
            p_values=args.p, p_range=p_range, policies=args.policy, gamma=args.gamma,
            source=dataset.source, verbose=fit_verbosity(), data_identity=data.identity,
            test_data=(data.x_test, data.y_test) if selects else None,
        )
    except ValueError as error:
        raise cli.UsageError(str(error)) from None
    role = os.environ.get("KERASTUNER_TUNER_ID", "tuner0") if "KERASTUNER_ORACLE_IP" in os.environ else "single machine"
    split = (f"objective on a {len(validation[0])}-image validation split of the training data (test reported only)"
             if selects else "objective on the test split (a grid selects nothing)")
    print(f"{config['title']}: {args.tuner} sweep of p over {hypermodel.p_range or hypermodel.p_values}, policies "
          f"{list(hypermodel.policies)}, variant {variant}, {config['runs']} run(s) per trial, {config['epochs']} epochs, "
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
    print(f"Report: python reproductions/report.py {args.out}")
    if failed:
        raise cli.RunError(f"{failed} trial(s) did not complete; their errors are above. Rerun the command to retry them.")


def summarize(tuner, hypermodel):
    """Prints one line per trial (best first); returns the number of trials
    that did not complete, after printing their errors."""
    name, direction = hypermodel.objective.name, hypermodel.objective.direction
    trials = list(tuner.oracle.trials.values())
    done = [t for t in trials if t.status == "COMPLETED" and t.score is not None]
    done.sort(key=lambda t: t.score, reverse=direction == "max")
    print(f"\n| trial | p | switch_off_policy | {name} (mean over runs) |\n|---|---|---|---|")
    for trial in done:
        values = trial.hyperparameters.values
        print(f"| {trial.trial_id} | {values['p']:g} | {values.get('switch_off_policy', hypermodel.policies[0])} | {trial.score:.5f} |")
    failed = [t for t in trials if t.status not in ("COMPLETED", "RUNNING", "IDLE")]
    for trial in failed:
        print(f"\ntrial {trial.trial_id} ({trial.hyperparameters.values}) {trial.status}:\n{trial.message}", file=sys.stderr)
    return len(failed)


if __name__ == "__main__":
    cli.run_main(main)
