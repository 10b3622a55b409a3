"""The main job's numbers over seeds and settings: softmax vs SVI BNN on the digits.

    python benchmarks/accuracy.py [--seeds 0 1 2]

Runs ``bayesnet compare`` (``bayesnet.cli.compare.run_compare``) for each seed with the default
settings, with an untempered posterior (T = 1), and with fan-in priors, and prints one
Markdown table row per (setting, seed, method) plus the mean and spread over seeds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import replace

from bayesnet.cli.compare import CompareSettings, run_compare

VARIANTS = {
    "default (MAP warm start, Normal(1), T=0.01)": {},
    "untempered (MAP warm start, Normal(1), T=1)": {"temperature": "1"},
    "FanIn(1) prior, T=0.01": {"prior": "fan_in"},
}
COLUMNS = ("accuracy", "nll", "brier", "ece")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print(
        "| setting | seed | method | accuracy | NLL | Brier | ECE | conf. noise | AUROC noise | AUROC rot90 | fit s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    summary: dict[tuple[str, str], list[dict]] = {}
    for name, changes in VARIANTS.items():
        seeds = (
            args.seeds
            if name.startswith("default") or name.startswith("untempered")
            else args.seeds[:1]
        )
        for seed in seeds:
            with tempfile.TemporaryDirectory() as out:
                settings = CompareSettings(
                    out=out, seed=seed, methods="softmax,svi", attacks="", demos="", progress=False
                )
                result = run_compare(replace(settings, **changes))
            rows = result["summary"]["rows"]
            for method in ("softmax", "svi"):
                test, noise, rot = (
                    next(
                        r
                        for r in rows
                        if r["method"] == method and r["condition"] == c and r["kind"] != "shift"
                    )
                    for c in ("test", "noise", "rotated90")
                )
                fit = result["summary"]["fit_seconds"][method]
                record = {
                    **{c: test[c] for c in COLUMNS},
                    "conf_noise": noise["confidence"],
                    "auroc_noise": noise["auroc_entropy"],
                    "auroc_rot": rot["auroc_entropy"],
                    "fit": fit,
                }
                summary.setdefault((name, method), []).append(record)
                cells = " | ".join(
                    f"{v:.4f}" if k != "fit" else f"{v:.1f}" for k, v in record.items()
                )
                print(f"| {name} | {seed} | {method} | {cells} |", flush=True)
    print("\nmean ± standard deviation over seeds\n")
    print(
        "| setting | method | n | accuracy | NLL | Brier | ECE | conf. noise | AUROC noise | AUROC rot90 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (name, method), records in summary.items():
        cells = []
        for key in ("accuracy", "nll", "brier", "ece", "conf_noise", "auroc_noise", "auroc_rot"):
            values = [r[key] for r in records]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.4f} ± {spread:.4f}")
        print(f"| {name} | {method} | {len(records)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
