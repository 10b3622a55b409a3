"""The ``bayesnet`` command: ``compare`` (main job), ``train CONFIG.toml`` and ``diagnose
RUN_DIR``, one module each (``compare``, ``train``, ``diagnose``; ``settings`` holds the
compare job's typed settings, ``demos`` its demonstrations). A command's module loads when
it runs, so ``bayesnet --help`` stays fast."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

from .settings import CompareSettings


def _compare_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="softmax point estimate vs baselines and Bayesian networks of the same "
        "architecture (the digits, or --data NAME:PATH)",
    )
    defaults = CompareSettings()
    for f in _option_fields():
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        kind = float if isinstance(value, float) else int if isinstance(value, int) else str
        p.add_argument(flag, type=kind, default=value, help=f"default: {value}")
    p.add_argument("--quick", action="store_true", help="a smoke test: 2 epochs, 10 samples")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _option_fields():
    """Settings that are command-line options (``--quick``, ``--no-progress`` set the rest)."""
    return [f for f in fields(CompareSettings) if f.name not in ("progress", "quick_run")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bayesnet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _compare_parser(sub)
    train = sub.add_parser("train", help="run an SVI training script from a TOML config")
    train.add_argument("config")
    diagnose = sub.add_parser(
        "diagnose", help="convergence summary and plots of a run's posterior.nc"
    )
    diagnose.add_argument("run_dir")
    args = parser.parse_args(argv)
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

            print(run_diagnose(args.run_dir))
            print(f"\nplots: {args.run_dir}/trace.png, rank.png, energy.png (MCMC only)")
            return 0
        values = {f.name: getattr(args, f.name) for f in _option_fields()}
        settings = CompareSettings(**values, progress=not args.no_progress)
        if args.quick:
            settings = settings.quick()
        from .compare import run_compare

        result = run_compare(settings)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"bayesnet: error: {err}", file=sys.stderr)
        return 2
    report = result["report"]
    for kind in ("test", "ood"):
        print(f"\n{kind}\n{report.table(kind)}")
    print(f"\nrun directory: {settings.out}: report.html, metrics.json, metrics.md, posteriors")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
