"""The calibrated median (`model.calibrate_median`) against the network's own: per set,
family and seed, the family trained once with the setting on, then its test windows scored
as trained and with the median's offset set back to 0 (the same network and intervals, only
the median differs). Rows are the mean over seeds with the range (min-max), the median's
offset (mean over horizon steps, in the series' training spreads), the 80% coverage, the
median's bias share on the validation windows (`Calibration.median_bias`) and what `auto`
serves from it (the calibrated median when the share reaches MEDIAN_BIAS_SHARE).

Run: .venv/bin/python benchmarks/median_calibration.py --sets tourism air_quality robust
     [--models lstm gru transformer mlp] [--seeds 0 1 2] [--output median_calibration]
Prints one line per set, family and seed; writes benchmarks/results/OUTPUT.json and .md after
each.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from forecast.calibration import moves_median  # noqa: E402
from forecast.metrics import point_index  # noqa: E402

VARIANTS = ("network", "calibrated")


def median_column(forecaster: Forecaster) -> int:
    return point_index(list(forecaster.predictor.quantiles))


def without_median_offset(forecaster: Forecaster) -> Forecaster:
    """The same model with the median's calibration offset set to 0."""
    predictor = forecaster.predictor
    offsets = predictor.calibration.offsets.copy()
    offsets[:, median_column(forecaster)] = 0.0
    calibration = dataclasses.replace(predictor.calibration, offsets=offsets)
    return Forecaster.from_predictor(predictor.with_calibration(calibration),
                                     forecaster.prepared)


def one_seed(bench: BenchSet, truth: pd.DataFrame, scales: dict[str, float], family: str,
             seed: int) -> dict:
    model = run_ours(family, bench, "full", ["model.calibrate_median=true"], seed).model
    row: dict = {"seed": seed}
    for variant, forecaster in zip(VARIANTS, (without_median_offset(model), model),
                                   strict=True):
        scored = score(bench, scored_forecasts(forecaster, bench)[0], truth, scales)
        metrics = forecaster.evaluate() if variant == "network" else model.metrics
        row[variant] = {"mae": scored["mae"], "mase": scored["mase"],
                        "coverage_80": metrics["coverage_80"]}
    row["offset"] = float(model.predictor.calibration.offsets[:, median_column(model)].mean())
    # what `calibrate_median: auto` would serve: the calibrated median when the validation
    # windows' bias share reaches MEDIAN_BIAS_SHARE, else the network's (the same training)
    row["share"] = model.predictor.calibration.median_bias
    row["auto"] = row["calibrated" if moves_median("auto", row["share"]) else "network"]
    return row


def markdown(results: dict[tuple[str, str], list[dict]]) -> str:
    lines = ["| set | family | MAE, network's median | MAE, calibrated | calibrated / network | "
             "ranges apart | median's offset per seed | coverage 80% network / calibrated | "
             "bias share per seed | MAE, auto | auto / network |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (name, family), rows in results.items():
        maes = {v: [r[v]["mae"] for r in rows] for v in VARIANTS}
        apart = ranges_apart(maes["network"], maes["calibrated"])
        ratio = np.mean(maes["calibrated"]) / np.mean(maes["network"])
        offsets = ", ".join(f"{r['offset']:+.2f}" for r in rows)
        coverage = " / ".join(f"{np.mean([r[v]['coverage_80'] for r in rows]):.3f}"
                              for v in VARIANTS)
        auto = [r["auto"]["mae"] for r in rows if "auto" in r]  # rows from before `auto`: none
        shares = ", ".join(f"{r['share']:.2f}" for r in rows if r.get("share") is not None)
        auto_cells = (f"{spread(auto)} | {np.mean(auto) / np.mean(maes['network']):.3f}"
                      if len(auto) == len(rows) else "- | -")
        lines.append(f"| {name} | {family} | {spread(maes['network'])} | "
                     f"{spread(maes['calibrated'])} | {ratio:.3f} | {'yes' if apart else 'no'} "
                     f"| {offsets} | {coverage} | {shares or '-'} | {auto_cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    seeded_run_arguments(parser, "median_calibration")
    args = parser.parse_args()
    results: dict[tuple[str, str], list[dict]] = {}
    for name in args.sets:
        bench = load_set(name, "full")
        truth, scales = bench.truth(), mase_scales(bench)  # once a set: every row scores on them
        for family in args.models:
            for seed in args.seeds:
                row = one_seed(bench, truth, scales, family, seed)
                print(name, family, seed, {v: round(row[v]["mae"], 4) for v in VARIANTS},
                      f"offset {row['offset']:+.3f}, bias share {row['share']}", flush=True)
                results.setdefault((name, family), []).append(row)
                save_results(args.output, {"models": args.models, "rows": [
                    {"set": s, "family": f, "seeds": rows} for (s, f), rows in results.items()]},
                    markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
