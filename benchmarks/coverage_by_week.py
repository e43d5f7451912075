"""Where intervals lose coverage after a late shift: the 80% coverage and the median's bias of
the transformer on the `late_shift` set (level up, spread 1.5-2.5x in the test part only),
week by week through the four test weeks, over three seeds (mean and min-max).

Run: .venv/bin/python benchmarks/coverage_by_week.py [--seeds 0 1 2] [--preset full]
Writes benchmarks/results/coverage_by_week.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from peer_models import our_config  # noqa: E402
from peer_sets import load_set  # noqa: E402
from results_files import save_results  # noqa: E402

from forecast import Forecaster  # noqa: E402
from forecast.evaluation import forecast_split  # noqa: E402

WEEK = 168  # hours


def one_seed(preset: str, seed: int) -> dict:
    bench = load_set("late_shift", preset)
    forecaster = Forecaster("transformer", our_config(bench, preset, [f"trainer.seed={seed}"]))
    forecaster.fit(bench.frame)
    predictor = forecaster.predictor
    windows = forecast_split(predictor, forecaster.prepared, "test")
    levels = list(predictor.quantiles)
    lo, hi, mid = levels.index(0.1), levels.index(0.9), levels.index(0.5)
    forecast, actual = windows.forecast, windows.actual
    inside = (actual >= forecast[..., lo]) & (actual <= forecast[..., hi])
    week = (windows.starts - windows.starts.min()) // WEEK
    weeks = np.unique(week)
    row = {"seed": seed,
           "coverage_80": [float(inside[week == k].mean()) for k in weeks],
           "median_bias": [float(np.mean(actual[week == k] - forecast[week == k][..., mid]))
                           for k in weeks],
           "width_80": float(np.mean(forecast[..., hi] - forecast[..., lo])),
           "offsets_01_09": predictor.calibration.offsets[:, [lo, hi]].mean(axis=0).tolist()}
    print(json.dumps(row), flush=True)
    return row


def spread(values: list[list[float]], digits: int) -> list[str]:
    a = np.array(values)
    return [f"{m:.{digits}f} ({x:.{digits}f} to {y:.{digits}f})"
            for m, x, y in zip(a.mean(0), a.min(0), a.max(0), strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--preset", default="full", choices=["quick", "full"])
    args = parser.parse_args()
    rows = [one_seed(args.preset, seed) for seed in args.seeds]
    coverage = spread([r["coverage_80"] for r in rows], 2)
    bias = spread([r["median_bias"] for r in rows], 0)
    lines = [f"transformer on late_shift, preset {args.preset}; mean over seeds {args.seeds} "
             "with the range (min to max).", "", "| test week | 80% coverage | median bias |",
             "|---|---|---|"]
    lines += [f"| {i + 1} | {c} | {b} |" for i, (c, b) in enumerate(zip(coverage, bias,
                                                                          strict=True))]
    offsets = np.array([r["offsets_01_09"] for r in rows])
    lines += ["", f"80% width {np.mean([r['width_80'] for r in rows]):.0f}; calibration "
              f"offsets of the 0.1 and 0.9 quantiles (series' spreads): "
              f"{offsets[:, 0].mean():.3f}, {offsets[:, 1].mean():.3f}"]
    text = "\n".join(lines)
    save_results("coverage_by_week", {"preset": args.preset, "seeds": args.seeds,
                                      "rows": rows}, text)
    print(text)


if __name__ == "__main__":
    main()
