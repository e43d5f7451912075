"""Two variants of the training settings (one setting's two values, or two lists of
overrides): each family trained with each variant on the peer benchmark's sets and scored on
its test windows with its own functions (MAE in the data's units, MASE, the ratio to
seasonal naive). Every row is the mean over `--seeds` with the range (min-max); "ranges
apart" says whether the seeds' ranges of the two variants overlap.

Run: .venv/bin/python benchmarks/setting_ab.py --setting model.loss_weighting
     --values equal scale --output OUTPUT [--sets tourism robust ...]
  or .venv/bin/python benchmarks/setting_ab.py --variants trainer.max_epochs=20
     trainer.max_epochs=50,trainer.patience=6 --output OUTPUT [--sets ...]
     [--models lstm gru transformer] [--seeds 0 1 2] [--end-earlier STEPS]
  or .venv/bin/python benchmarks/setting_ab.py --merge refit refit_panel sqrt_weighting
     --variants trainer.refit=true model.loss_weighting=sqrt --output OUTPUT
     (no training: the two variants' rows from earlier runs' result files, compared)
Prints one line per set, family and variant as it goes; writes
benchmarks/results/OUTPUT.json and .md after every row (a long run keeps what it measured).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from peer_models import every_origin_mae, run_ours, run_seasonal_naive  # noqa: E402
from peer_sets import DEFAULT_SETS, SETS, BenchSet, load_set  # noqa: E402
from peers import mase_scales, score  # noqa: E402
from results_files import RESULTS, save_results  # noqa: E402


def measure(bench: BenchSet, truth: pd.DataFrame, scales: dict[str, float], family: str,
            variant: str, seeds: list[int], naive_mae: float) -> dict:
    maes, mases, seconds, epochs, coverage = [], [], [], [], {"80": [], "90": []}
    every_origin = []  # the MAE of a forecast from every step of the test part
    selections = []  # what a setting decided on validation (`seasonal_input: auto`), per seed
    for seed in seeds:
        start = time.perf_counter()
        run = run_ours(family, bench, "full", variant.split(","), seed)
        scored = score(bench, run.forecasts, truth, scales)
        maes.append(scored["mae"])
        mases.append(scored["mase"])
        seconds.append(time.perf_counter() - start)
        epochs.append(run.epochs)
        every_origin.append(every_origin_mae(run.model))
        for level in coverage:  # the served intervals on the model's own test windows
            coverage[level].append(run.model.metrics[f"coverage_{level}"])
        report = run.model.report
        selections.append(report.seasonal_input.metrics()
                          if report is not None and report.seasonal_input else {})
    return {"set": bench.name, "family": family, "variant": variant, "seeds": seeds,
            "mae": maes, "mase": mases, "seconds": seconds, "epochs": epochs,
            "coverage_80": coverage["80"], "coverage_90": coverage["90"],
            "selections": selections, "mae_every_origin": every_origin,
            "mae_mean": float(np.mean(maes)), "mase_mean": float(np.mean(mases)),
            "vs_seasonal_naive": float(np.mean(maes)) / naive_mae}


def figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def spread(values: list[float]) -> str:
    return f"{figure(float(np.mean(values)))} ({figure(min(values))}-{figure(max(values))})"


def ranges_apart(first: list[float], second: list[float]) -> bool:
    """Whether two variants' seeds do not overlap: the only case a row is called ahead."""
    return max(second) < min(first) or min(second) > max(first)


def seeded_run_arguments(parser: argparse.ArgumentParser, output: str) -> None:
    """The options every seeded comparison script here shares."""
    parser.add_argument("--sets", nargs="+", default=["tourism", "air_quality", "robust"])
    parser.add_argument("--models", nargs="+", default=["lstm", "gru", "transformer", "mlp"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--output", default=output)


def markdown(rows: list[dict], naive: dict[str, dict], variants: tuple[str, ...]) -> str:
    if len(variants) == 1:
        return single_markdown(rows, naive, variants[0])
    a, b = variants
    lines = ["| set | family | MAE, A | MAE, B | B / A | ranges apart | MASE A / B | "
             "coverage 80% A / B | coverage 90% A / B | every-origin MAE A / B (B / A) | "
             "seasonal naive MAE (MASE) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    keyed = {(r["set"], r["family"], r["variant"]): r for r in rows}
    for (set_name, family, value), first in keyed.items():
        second = keyed.get((set_name, family, b))
        if value != a or second is None:
            continue
        apart = ranges_apart(first["mae"], second["mae"])
        lines.append(
            f"| {set_name} | {family} | {spread(first['mae'])} | {spread(second['mae'])} | "
            f"{second['mae_mean'] / first['mae_mean']:.3f} | {'yes' if apart else 'no'} | "
            f"{first['mase_mean']:.3f} / {second['mase_mean']:.3f} | "
            f"{coverages(first, '80')} / {coverages(second, '80')} | "
            f"{coverages(first, '90')} / {coverages(second, '90')} | "
            f"{every_origin(first, second)} | "
            f"{figure(naive[set_name]['mae'])} ({naive[set_name]['mase']:.3f}) |")
    return f"A: `{a}`; B: `{b}`\n\n" + "\n".join(lines) + "\n"


def every_origin(first: dict, second: dict) -> str:
    """Both variants' every-origin MAE and their ratio ('-' for rows measured before it was)."""
    a, b = first.get("mae_every_origin"), second.get("mae_every_origin")
    if not a or not b:
        return "-"
    return f"{spread(a)} / {spread(b)} ({np.mean(b) / np.mean(a):.3f})"


def coverages(row: dict, level: str) -> str:
    """Mean coverage over the seeds ('-' for rows measured before coverage was recorded)."""
    values = row.get(f"coverage_{level}")
    return f"{np.mean(values):.3f}" if values else "-"


def single_markdown(rows: list[dict], naive: dict[str, dict], variant: str) -> str:
    lines = [f"`{variant}`", "", "| set | family | MAE | MASE | vs seasonal naive | "
             "coverage 80% | coverage 90% | epochs |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['set']} | {r['family']} | {spread(r['mae'])} | {r['mase_mean']:.3f} | "
              f"{r['vs_seasonal_naive']:.3f} | {coverages(r, '80')} | {coverages(r, '90')} | "
              f"{r['epochs']} |" for r in rows]
    return "\n".join(lines) + "\n"


def run_ab(variants: tuple[str, ...], sets: list[str], models: list[str],
           seeds: list[int], output: str, end_earlier: int = 0) -> None:
    rows, naive = [], {}
    for set_name in sets:
        bench = load_set(set_name, "full").ending_earlier(end_earlier)
        set_name = bench.name
        truth, scales = bench.truth(), mase_scales(bench)  # once a set: every row scores on them
        naive[set_name] = score(bench, run_seasonal_naive(bench).forecasts, truth, scales)
        for family in models:
            for variant in variants:
                row = measure(bench, truth, scales, family, variant, seeds,
                              naive[set_name]["mae"])
                rows.append(row)
                print(f"{set_name} {family} {variant}: MAE {spread(row['mae'])}, "
                      f"{row['vs_seasonal_naive']:.3f} of seasonal naive, "
                      f"MASE {row['mase_mean']:.3f}, coverage 80% {coverages(row, '80')}, "
                      f"epochs {row['epochs']}", *row["selections"], flush=True)
                save_results(output, {"variants": variants, "rows": rows,
                                      "seasonal_naive": naive}, markdown(rows, naive, variants))
    print(markdown(rows, naive, variants))


def parser(doc: str, sets: list[str], setting: str | None = None,
           values: tuple[str, str] | None = None, output: str | None = None
           ) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--setting", default=setting, help="a dotted config key, as in an override")
    p.add_argument("--values", nargs=2, default=values, help="the setting's two values")
    p.add_argument("--variants", nargs="+", help="instead of --setting and --values: two "
                   "comma-separated lists of overrides (one: its rows only, no comparison)")
    p.add_argument("--sets", nargs="*", default=sets, choices=sorted(SETS))
    p.add_argument("--models", nargs="*", default=["lstm", "gru", "transformer"])
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--output", default=output, required=output is None)
    p.add_argument("--end-earlier", type=int, default=0, metavar="STEPS", help="drop the last "
                   "STEPS of every series first: the test origins move against anything "
                   "anchored at the series' start (a file that ends earlier)")
    p.add_argument("--merge", nargs="+", metavar="NAME", help="instead of training: compare "
                   "the --variants' rows of these result files (benchmarks/results/NAME.json)")
    return p


def merge(names: list[str], variants: tuple[str, ...], output: str,
          families: list[str]) -> None:
    """One comparison from rows measured in separate runs (each set's seasonal naive is
    deterministic, so any run's serves), of the `families` only (a family whose default
    differs takes its A rows from another file)."""
    rows, naive = [], {}
    for name in names:
        data = json.loads((RESULTS / f"{name}.json").read_text())
        rows += [r for r in data["rows"] if r["variant"] in variants and r["family"] in families]
        naive.update(data["seasonal_naive"])
    text = markdown(rows, naive, variants)
    save_results(output, {"variants": variants, "rows": rows, "seasonal_naive": naive,
                          "merged_from": names}, text)
    print(text)


def main(args: argparse.Namespace) -> None:
    if args.variants:
        variants = tuple(args.variants)
    elif args.setting and args.values:
        variants = tuple(f"{args.setting}={value}" for value in args.values)
    else:
        raise SystemExit("give --setting and --values, or --variants")
    if args.merge:
        if len(variants) != 2:
            raise SystemExit("--merge compares two --variants")
        merge(args.merge, variants, args.output, args.models)
        return
    run_ab(variants, args.sets, args.models, args.seeds, args.output, args.end_earlier)


if __name__ == "__main__":
    main(parser(__doc__, DEFAULT_SETS).parse_args())
