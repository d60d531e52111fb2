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

from common import ROOT, base_parser, fit_verbosity, load_inputs, make_strategy  # noqa: E402
from dct_keras.experiment.runner import prepare_data  # noqa: E402
from dct_keras.experiment.sweep import TUNERS, SwitchOffHyperModel, make_tuner  # noqa: E402
from dct_keras.spectral.masks import SWITCH_OFF_POLICIES  # noqa: E402

STRATEGIES = ("none", "mirrored", "multiworker")


def parse_args(argv=None):
    parser = base_parser(__doc__.splitlines()[0], None)
    parser.add_argument("--problem", type=int, required=True, help="DCT-Conv problem number (1-4), picks configs/problem<N>_*.json")
    parser.add_argument("--variant", default="all", help="a Table V block of the config (all, spatial) or freqreg (default: %(default)s)")
    values = parser.add_mutually_exclusive_group()
    values.add_argument("--p", type=float, nargs="+", help="the p values of the grid (default: the config block's Table V grid)")
    values.add_argument("--p-range", type=float, nargs=2, metavar=("MIN", "MAX"), help="p as a float range instead")
    parser.add_argument("--p-step", type=float, help="step of --p-range (needed by the grid tuner)")
    parser.add_argument("--policy", nargs="+", choices=SWITCH_OFF_POLICIES, default=list(SWITCH_OFF_POLICIES), help="switch-off policies to sweep (default: both)")
    parser.add_argument("--tuner", choices=sorted(TUNERS), default="grid", help="keras-tuner search (default: %(default)s)")
    parser.add_argument("--max-trials", type=int, help="trial budget (required by random / bayesian)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="none", help="tf.distribute strategy of each trial")
    parser.add_argument("--gamma", type=float, help="TailDropout speed of --variant freqreg (default: 1%% of the gap left at the last epoch)")
    parser.add_argument("--overwrite", action="store_true", help="restart the tuner's state (runs in results.jsonl are still reused)")
    args = parser.parse_args(argv)
    if args.config is None:
        matches = sorted(glob.glob(os.path.join(ROOT, "configs", f"problem{args.problem}_*.json")))
        if not matches:
            parser.error(f"no config for problem {args.problem} in configs/ (problems: 1-4)")
        args.config = matches[0]
    if args.p_step is not None and args.p_range is None:
        parser.error("--p-step needs --p-range")
    if args.tuner in ("random", "bayesian") and not args.max_trials:
        parser.error(f"--tuner {args.tuner} needs --max-trials")
    return args


def main(argv=None):
    args = parse_args(argv)
    config_name = os.path.splitext(os.path.basename(args.config))[0]
    if args.out is None:
        args.out = os.path.join(ROOT, "results", "sweep_p", config_name + ("-quick" if args.quick else ""), args.variant)
    _, config, dataset = load_inputs(args, config_name)
    blocks = config["blocks"]
    if args.variant != "freqreg" and args.variant not in blocks:
        sys.exit(f"error: --variant {args.variant!r}: the config's blocks are {sorted(blocks)} (or freqreg).")
    variant = "freqreg" if args.variant == "freqreg" else blocks[args.variant]["variant"]
    data = prepare_data(config, dataset)
    strategy = make_strategy(args.strategy)
    p_range = None if args.p_range is None else (*args.p_range, *([args.p_step] if args.p_step else []))
    try:
        hypermodel = SwitchOffHyperModel(
            config, data.x_train.shape[1:], data.num_classes, args.out, variant=variant, block=args.variant,
            p_values=args.p, p_range=p_range, policies=args.policy, gamma=args.gamma,
            source=dataset.source, verbose=fit_verbosity(),
        )
    except ValueError as error:
        sys.exit(f"error: {error}")
    role = os.environ.get("KERASTUNER_TUNER_ID", "tuner0") if "KERASTUNER_ORACLE_IP" in os.environ else "single machine"
    print(f"{config['title']}: {args.tuner} sweep of p over {hypermodel.p_range or hypermodel.p_values}, policies "
          f"{list(hypermodel.policies)}, variant {variant}, {config['runs']} run(s) per trial, {config['epochs']} epochs, "
          f"{len(data.x_train)} train / {len(data.x_test)} test examples of {dataset.source}; {role}; results in {args.out}")
    tuner = make_tuner(args.tuner, hypermodel, args.out, max_trials=args.max_trials,
                       executions_per_trial=config["runs"], overwrite=args.overwrite, distribution_strategy=strategy)
    tuner.search(data.x_train, data.y_train, validation_data=(data.x_test, data.y_test), verbose=1)
    if role != "single machine" and "chief" not in role:
        print(f"{role}: no trials left. The chief prints the summary.")
        return
    failed = summarize(tuner, hypermodel)
    print(f"Report: python reproductions/report.py {args.out}")
    if failed:
        sys.exit(f"error: {failed} trial(s) did not complete; their errors are above. Rerun the command to retry them.")


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
    main()
