"""Adaptive intervals after a long calm: a model calibrated for N(0, 1), served one day-ahead
window of 24 hourly points a day for `calm` days of N(0, 1), then 28 days of N(0, 2^2).
How much of the shift's first week, and of its weeks 2-4, the served 80% interval covers,
at each rate setting (`FORECAST_ADAPTIVE_RATE`), over several seeds.

Measures what a deployment that has run quietly for months meets when its data turns:
summed since deployment, the trackers' losses let the slow ones lead so far that the fast
ones took weeks to take over (`forecast/monitoring/adaptive.py`, `loss_memory`).

    python benchmarks/long_calm.py [--calm 28 180 365] [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).parent))

from results_files import save_results  # noqa: E402

from forecast.monitoring.adaptive import parse_rates, replay_offsets  # noqa: E402

LEVELS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
STEPS, SHIFT_DAYS = 24, 28


def covered(calm: int, seed: int, rates: tuple[float, ...]) -> tuple[float, float, float]:
    """The 80% interval's coverage over the last calm month, the shift's first week and its
    weeks 2-4."""
    rng = np.random.default_rng(seed)
    spread = np.r_[np.ones(calm), np.full(SHIFT_DAYS, 2.0)]
    actual = rng.standard_normal((len(spread), STEPS)) * spread[:, None]
    forecast = np.broadcast_to(norm.ppf(LEVELS), (*actual.shape, len(LEVELS))).copy()
    days = len(actual)
    served = replay_offsets(forecast, actual, np.zeros(days, int), np.arange(days) * STEPS,
                            np.ones(days), LEVELS, rates)
    inside = ((actual >= served[..., 1]) & (actual <= served[..., 5])).mean(axis=1)
    return (float(inside[calm - 28:calm].mean()), float(inside[calm:calm + 7].mean()),
            float(inside[calm + 7:].mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calm", nargs="+", type=int, default=[28, 180, 365])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--rates", nargs="+", default=["default", "0.04", "0.015"])
    parser.add_argument("--output", default="long_calm")
    args = parser.parse_args()
    rows = []
    for calm in args.calm:
        for setting in args.rates:
            rates = parse_rates(None if setting == "default" else setting)
            runs = np.array([covered(calm, seed, rates) for seed in args.seeds])
            rows.append({"calm_days": calm, "rates": setting,
                         **{f"{part}_{stat}": float(getattr(runs[:, i], stat)())
                            for i, part in enumerate(("calm", "first_week", "weeks_2_4"))
                            for stat in ("mean", "std")}})
    lines = [f"80% coverage, mean +- sd over seeds {args.seeds}", "",
             "| calm days | rates | last calm month | shift, first week | shift, weeks 2-4 |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['calm_days']} | {r['rates']} | {r['calm_mean']:.3f} +- {r['calm_std']:.3f} "
              f"| {r['first_week_mean']:.3f} +- {r['first_week_std']:.3f} "
              f"| {r['weeks_2_4_mean']:.3f} +- {r['weeks_2_4_std']:.3f} |" for r in rows]
    text = "\n".join(lines) + "\n"
    save_results(args.output, {"seeds": args.seeds, "rows": rows}, text)
    print(text)


if __name__ == "__main__":
    main()
