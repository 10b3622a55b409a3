"""Every method of ``bayesnet compare`` over seeds, with all ten digit classes and with
two classes held out as OOD: the evaluation issue's measurements.

    python benchmarks/evaluation.py [--seeds 0 1 2] [--methods ...] [--out benchmarks/evaluation]

Each (setting, seed) writes its rows to ``OUT/<setting>_seed<k>.json`` as it finishes, so
an interrupted run keeps what it measured; the Markdown tables (per run, then mean and
standard deviation over seeds) are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from bayesnet.cli.compare import CompareSettings, run_compare

SETTINGS = {"all classes": "", "held out 8,9": "8,9"}
METHODS = "softmax,temperature,dropout,ensemble,svi,svi_local,svi_flipout,hmc"
# (label, kind, condition, severity, column)
CELLS = (
    ("acc", "test", "test", None, "accuracy"),
    ("NLL", "test", "test", None, "nll"),
    ("Brier", "test", "test", None, "brier"),
    ("ECE", "test", "test", None, "ece"),
    ("AURC(H)", "test", "test", None, "aurc_entropy"),
    ("AUROC noise H", "ood", "noise", None, "auroc_entropy"),
    ("AUROC noise MI", "ood", "noise", None, "auroc_mi"),
    ("AUROC rot90 H", "ood", "rotated90", None, "auroc_entropy"),
    ("AUROC rot90 MI", "ood", "rotated90", None, "auroc_mi"),
    ("AUROC held-out H", "ood", "held_out_classes", None, "auroc_entropy"),
    ("AUROC held-out MI", "ood", "held_out_classes", None, "auroc_mi"),
    ("conf. fooling", "ood", "fooling", None, "confidence"),
    ("acc rot45", "shift", "rotation", 45.0, "accuracy"),
    ("NLL rot45", "shift", "rotation", 45.0, "nll"),
    ("ECE noise0.4", "shift", "noise", 0.4, "ece"),
    ("acc FGSM0.1", "attack", "fgsm", 0.1, "accuracy"),
    ("fit s", "test", "test", None, "fit_seconds"),
)


def _cells(rows: list[dict], method: str) -> dict[str, float | None]:
    found = {}
    for label, kind, condition, severity, column in CELLS:
        row = next(
            (
                r
                for r in rows
                if (r["method"], r["kind"], r["condition"], r["severity"])
                == (method, kind, condition, severity)
            ),
            None,
        )
        found[label] = None if row is None else row.get(column)
    return found


def _fmt(values: list[float | None]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--out", default="benchmarks/evaluation")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[str, str], list[dict]] = {}
    for setting, held_out in SETTINGS.items():
        for seed in args.seeds:
            path = out / f"{setting.replace(' ', '_').replace(',', '')}_seed{seed}.json"
            if not path.exists():
                settings = CompareSettings(
                    out=str(out / "run"),
                    methods=args.methods,
                    held_out=held_out,
                    epsilons="0,0.1",
                    attacks="fgsm",
                    demos="",
                    seed=seed,
                    progress=False,
                )
                path.write_text(json.dumps(run_compare(settings)["summary"]["rows"]))
                print(f"done: {setting}, seed {seed}", flush=True)
            rows = json.loads(path.read_text())
            for method in dict.fromkeys(r["method"] for r in rows):
                results.setdefault((setting, method), []).append(_cells(rows, method))
    labels = [c[0] for c in CELLS]
    print("| setting | method | " + " | ".join(labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for (setting, method), records in results.items():
        cells = [_fmt([r[label] for r in records]) for label in labels]
        print(f"| {setting} | {method} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
