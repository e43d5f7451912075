"""Why an interval misses its level on the test part: the 80% coverage of each family on the
validation windows its offsets were measured on and on the test windows, with the misses
split into below the 0.1 quantile and above the 0.9, the median's bias (actual minus
median, as a fraction of the MAE) and the series whose test coverage is lowest and highest.

The refit is off here (`trainer.refit=false`), so the network has not seen the validation
windows and its calibration is the one conformal measured there: what differs between the
two parts is the data, not the model. Every figure is the mean over `--seeds` with the range.

Run: .venv/bin/python benchmarks/coverage_by_part.py --sets tourism air_quality
     [--models lstm gru transformer mlp] [--seeds 0 1 2] [--output coverage_by_part]
Writes benchmarks/results/OUTPUT.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from peer_models import our_config  # noqa: E402
from peer_sets import BenchSet, load_set  # noqa: E402
from results_files import save_results  # noqa: E402
from setting_ab import spread  # noqa: E402

from forecast import Forecaster  # noqa: E402
from forecast.evaluation import WindowForecasts, forecast_split  # noqa: E402

PARTS = ("val", "test")


def part_figures(windows: WindowForecasts, levels: list[float]) -> dict:
    """Coverage of the 80% interval, its misses on each side and the median's bias, over all
    windows and per series (by name)."""
    lo, mid, hi = levels.index(0.1), levels.index(0.5), levels.index(0.9)
    forecast, actual = windows.forecast, windows.actual
    below, above = actual < forecast[..., lo], actual > forecast[..., hi]
    error = actual - forecast[..., mid]
    per_series = {}
    for s in np.unique(windows.series):
        chosen = windows.series == s
        name = str(windows.panel.series[s].unique_id)
        per_series[name] = float(1 - below[chosen].mean() - above[chosen].mean())
    return {"coverage_80": float(1 - below.mean() - above.mean()),
            "below": float(below.mean()), "above": float(above.mean()),
            "bias_of_mae": float(error.mean() / np.abs(error).mean()),
            "per_series": per_series}


def one_fit(bench: BenchSet, family: str, seed: int) -> dict:
    config = our_config(bench, "full", [f"trainer.seed={seed}", "trainer.refit=false"])
    forecaster = Forecaster(family, config).fit(bench.frame)
    levels = list(forecaster.predictor.quantiles)
    row = {"set": bench.name, "family": family, "seed": seed}
    for part in PARTS:
        row[part] = part_figures(forecast_split(forecaster.predictor, forecaster.prepared,
                                                part), levels)
    print(json.dumps({k: v for k, v in row.items() if k not in PARTS} | {
        part: {k: round(v, 3) for k, v in row[part].items() if k != "per_series"}
        for part in PARTS}), flush=True)
    return row


def extreme_series(rows: list[dict]) -> str:
    """The series with the lowest and the highest test coverage, averaged over the seeds."""
    names = rows[0]["test"]["per_series"]
    mean = {n: float(np.mean([r["test"]["per_series"][n] for r in rows])) for n in names}
    low, high = min(mean, key=mean.get), max(mean, key=mean.get)
    return f"{low} {mean[low]:.2f}, {high} {mean[high]:.2f}"


def markdown(rows: list[dict], seeds: list[int]) -> str:
    lines = [f"refit off; mean over seeds {seeds} with the range (min-max).", "",
             "| set | family | part | coverage 80% | below 0.1 | above 0.9 | median bias / MAE "
             "| test coverage, lowest and highest series |", "|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["set"], row["family"]), []).append(row)
    for (set_name, family), group in groups.items():
        for part in PARTS:
            cells = [spread([r[part][k] for r in group])
                     for k in ("coverage_80", "below", "above", "bias_of_mae")]
            named = extreme_series(group) if part == "test" else ""
            lines.append(f"| {set_name} | {family} | {part} | {' | '.join(cells)} | {named} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", nargs="+", required=True)
    parser.add_argument("--models", nargs="+", default=["lstm", "gru", "transformer", "mlp"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--output", default="coverage_by_part")
    args = parser.parse_args()
    rows = []
    for set_name in args.sets:
        bench = load_set(set_name, "full")  # once: every family and seed fits the same data
        for family in args.models:
            rows += [one_fit(bench, family, seed) for seed in args.seeds]
            text = markdown(rows, args.seeds)  # saved after every family: a long run keeps it
            save_results(args.output, {"seeds": args.seeds, "rows": rows}, text)
    print(text)


if __name__ == "__main__":
    main()
