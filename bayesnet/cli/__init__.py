"""The ``bayesnet`` command: ``compare`` (main job), ``train CONFIG.toml`` and ``diagnose
RUN_DIR``, one module each (``compare``, ``train``, ``diagnose``; ``settings`` holds the
compare job's typed settings and their help, ``demos`` its demonstrations). A command's
module loads when it runs."""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from dataclasses import fields

from .. import __version__
from .settings import CHOICES, HELP, QUICK, CompareSettings

DESCRIPTION = (
    "Bayesian neural networks on Pyro and PyTorch: is the softmax of a trained network an "
    "uncertainty measure? compare runs it against its usual fixes and the posterior of the "
    "same architecture and writes a report; train runs an SVI training script; diagnose "
    "checks a run's posterior."
)


#: the columns printed on the terminal (report.html and metrics.md hold every one)
TERMINAL = {
    "classification": {
        "test": ("accuracy", "nll", "ece", "coverage_credible", "fit_seconds"),
        "ood": ("condition", "confidence", "auroc_entropy", "auroc_mi"),
    },
    "regression": {
        "test": ("rmse", "nll", "crps", "coverage_90", "pit_error"),
        "ood": ("condition", "auroc_epistemic", "auroc_total"),
    },
}


def _option_fields():
    """Settings that are command-line options (``--quick``, ``--no-progress`` set the rest)."""
    return [f for f in fields(CompareSettings) if f.name not in ("progress", "quick_run")]


def _compare_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "compare",
        help="the softmax against its fixes and the recommended posterior of the same "
        "network (the digits, or --data NAME:PATH); writes a report",
        description="Train the softmax point estimate of a network, its usual fixes and the "
        "recommended posterior of the same architecture, and compare them in distribution, "
        "far from the data, under shift, the common corruptions and attacks.",
    )
    defaults = CompareSettings()
    for f in _option_fields():
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        kind = float if isinstance(value, float) else int if isinstance(value, int) else str
        p.add_argument(
            flag,
            type=kind,
            default=argparse.SUPPRESS,  # given options are told apart from defaults
            choices=CHOICES.get(f.name),
            metavar=None if f.name in CHOICES else f.name.upper(),
            help=f"{HELP[f.name]} (default: {value!r})",
        )
    lowered = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items())
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a smoke test (about a minute): lowers every option you do not give: {lowered}",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(prog="bayesnet", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"bayesnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = {"compare": _compare_parser(sub)}
    commands["train"] = sub.add_parser(
        "train",
        help="run an SVI training script from a TOML config (also under torchrun)",
        description="Fit a Pyro model with SVI as a TOML config describes: data, network, "
        "prior, guide, epochs, checkpoints and resume (docs/cli.md lists the keys).",
    )
    commands["train"].add_argument("config", help="the TOML config file")
    commands["diagnose"] = sub.add_parser(
        "diagnose",
        help="convergence of a run's posterior, in function space (R-hat, ESS of predictions)",
        description="Summarise the posterior a run saved (posterior.nc): R-hat and ESS of "
        "its predictions on held-out inputs, divergences and plots.",
    )
    commands["diagnose"].add_argument("run_dir", help="a run directory holding posterior.nc")
    commands["diagnose"].add_argument(
        "--weights",
        action="store_true",
        help="also the weight-space table (slow for networks; R-hat of weights says little)",
    )
    return parser, commands


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse; an unknown option is reported by its command's usage, with the closest."""
    parser, commands = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = commands[args.command]
        options = re.findall(r"--[a-z][a-z-]*", command.format_help())
        close = difflib.get_close_matches(unknown[0].split("=")[0], options, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        command.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # each command's module (and the evaluation and plotting stack) loads only when it runs
    try:
        if args.command == "train":
            from .train import run_train

            post = run_train(args.config)
            if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one report
                print(f"trained: {post.info['history'][-1]}")
            return 0
        if args.command == "diagnose":
            from .diagnose import run_diagnose

            print(run_diagnose(args.run_dir, weights=args.weights))
            return 0
        given = {f.name: getattr(args, f.name) for f in _option_fields() if hasattr(args, f.name)}
        settings = CompareSettings(**given, progress=not args.no_progress)
        if args.quick:
            settings = settings.quick(frozenset(given))
        settings.check()  # before any directory is made
        command = sys.argv[1:] if argv is None else argv
        if settings.task == "regression":
            from .regression import run_regression as run
        else:
            from .compare import run_compare as run
        result = run(settings, given=sorted(given), argv=command)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"bayesnet: error: {err}", file=sys.stderr)
        return 2
    report = result["report"]
    for kind, columns in TERMINAL[settings.task].items():
        print(f"\n{kind}\n{report.table(kind, columns)}")
    print(
        f"\nrun directory: {settings.out}: report.html (every table and figure), metrics.json, "
        "metrics.md, posteriors"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
