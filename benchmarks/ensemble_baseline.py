"""The weighted ensemble with and without a baseline among its candidates
(`ensemble_baselines`): per set and seed, the families trained once, then both ensembles
formed from the same members and scored on the test windows. Rows are the mean over seeds
with the range (min-max), the weights each seed chose, and the 80% interval's coverage.

Run: .venv/bin/python benchmarks/ensemble_baseline.py --sets tourism air_quality robust
     [--models lstm gru transformer mlp] [--seeds 0 1 2] [--output ensemble_baseline]
     [--override model.calibrate_median=true ...]   (config overrides for every model)
Prints one line per set and seed; writes benchmarks/results/OUTPUT.json and .md after each.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from peer_models import run_ours, scored_forecasts  # noqa: E402
from peer_sets import BenchSet, load_set  # noqa: E402
from peers import mase_scales, score  # noqa: E402
from results_files import save_results  # noqa: E402
from setting_ab import ranges_apart, seeded_run_arguments, spread  # noqa: E402

from forecast import Forecaster  # noqa: E402
from forecast.ensemble import fit_ensembles  # noqa: E402
from forecast.forecaster import refit_validation  # noqa: E402

BASELINES = ("naive", "seasonal_naive")
VARIANTS = ("networks", "with_baseline")


def one_seed(bench: BenchSet, truth: pd.DataFrame, scales: dict[str, float],
             models: list[str], seed: int, overrides: list[str] = ()) -> dict:
    """Both weighted ensembles of one seed's families, and each member's test MAE."""
    runs = {f: run_ours(f, bench, "full", list(overrides), seed)
            for f in [*models, *BASELINES]}
    row = {f: score(bench, r.forecasts, truth, scales)["mae"] for f, r in runs.items()}
    trained = [runs[f].model for f in models]
    prepared, held = trained[0].prepared, refit_validation(trained)
    everything = [r.model.predictor for r in runs.values()]
    for variant, predictors in zip(VARIANTS, (everything[:len(models)], everything),
                                   strict=True):
        ensemble = fit_ensembles(predictors, ["weighted"], prepared, held)[0]
        forecasts = scored_forecasts(Forecaster.from_predictor(ensemble, prepared), bench)[0]
        row[variant] = {"mae": score(bench, forecasts, truth, scales)["mae"],
                        "weights": dict(zip(ensemble.member_names, ensemble.weights,
                                            strict=True)),
                        "coverage_80": ensemble.metrics["coverage_80"]}
    return row


def markdown(results: dict[str, list[dict]]) -> str:
    lines = ["| set | ensemble | MAE, mean (min-max) | with / without | ranges apart | "
             "baseline's weight per seed | coverage 80% |", "|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        maes = {v: [r[v]["mae"] for r in rows] for v in VARIANTS}
        apart = ranges_apart(maes["networks"], maes["with_baseline"])
        for variant in VARIANTS:
            shares = ", ".join(
                "/".join(f"{b} {r[variant]['weights'][b]:.2f}" for b in BASELINES
                         if b in r[variant]["weights"]) or "0" for r in rows)
            ratio = np.mean(maes[variant]) / np.mean(maes["networks"])
            coverage = np.mean([r[variant]["coverage_80"] for r in rows])
            lines.append(f"| {name} | {variant} | {spread(maes[variant])} | {ratio:.3f} | "
                         f"{'yes' if apart else 'no'} | {shares if variant != 'networks' else ''}"
                         f" | {coverage:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    seeded_run_arguments(parser, "ensemble_baseline")
    parser.add_argument("--override", nargs="*", default=[],
                        help="config overrides for every model, e.g. model.calibrate_median=true")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {}
    for name in args.sets:
        bench = load_set(name, "full")
        truth, scales = bench.truth(), mase_scales(bench)  # once a set: every seed scores on them
        for seed in args.seeds:
            row = one_seed(bench, truth, scales, args.models, seed, args.override)
            print(name, seed, {v: row[v] for v in VARIANTS}, flush=True)
            results.setdefault(name, []).append({"seed": seed, **row})
            save_results(args.output, {"models": args.models, "overrides": args.override,
                                       "sets": results},
                         markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
