"""Intervals that follow the local spread: one network per seed and scale, trained with
offsets in the series' training units (`model.calibration_scale: series`, the default) or in
units of each window's own spread (`window`), scored on the test part of each set; and the
first as the service serves it (`series, adaptive RATE`, one row per `--rates`): test windows
in time order, the adaptive offsets learning from each window's actuals before the next
(`served_adaptively`).

The sets are the peer benchmark's: two real ones (vic_elec, pedestrian), and ones made in
code with a shift after training (`shifted`: a new level and spread from the validation part
on; `robust`: the same, with series scaled apart; `late_shift`: a higher level and 1.5-2.5x
the spread in the test part only, after the calibration was measured), and the peer
benchmark's quarterly (`tourism`) and daily (`air_quality`) sets. Every row is the
mean over `--seeds` with the range (min-max) beside it. The adaptive offsets never move
the median (only re-sort it where a shifted quantile would cross it), so an adaptive row has
its static row's MAE; training's calibration may move it (`model.calibrate_median`), by
different amounts in the two units. Where a set
has one test window per series (tourism) the adaptive offsets have nothing to learn from
before it is served, and that row equals the first.

Run: .venv/bin/python benchmarks/interval_scale.py [--sets vic_elec pedestrian shifted ...]
     [--seeds 0 1 2] [--model transformer] [--preset quick] [--set KEY=VALUE ...]
     [--rates 0.015 ...] [--output interval_scale]
Writes benchmarks/results/OUTPUT.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import get_args

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from peer_models import our_config  # noqa: E402
from peer_sets import SETS, load_set  # noqa: E402
from results_files import save_results  # noqa: E402

from forecast import Forecaster  # noqa: E402
from forecast.calibration import Scale  # noqa: E402
from forecast.evaluation import forecast_split, score, served_adaptively  # noqa: E402
from forecast.monitoring.adaptive import DEFAULT_RATE  # noqa: E402

COLUMNS = ("coverage_80", "coverage_90", "width_80", "wql", "mae")


def adaptive(rate: float) -> str:
    return f"series, adaptive {rate:g}"


def one_seed(name: str, preset: str, model: str, seed: int, extra: list[str],
             rates: list[float], scales: list[str]) -> dict[str, dict]:
    """One training per scale, each calibrated as training calibrates it: with the refit
    (the default) the offsets are the first fit's, measured out of sample. Calibrating the
    refitted network again on the validation part it has trained on would measure its
    in-sample errors, and give intervals too narrow."""
    bench = load_set(name, preset)
    out = {}
    for scale in scales:
        config = our_config(bench, preset, [f"trainer.seed={seed}",
                                            f"model.calibration_scale={scale}", *extra])
        forecaster = Forecaster(model, config).fit(bench.frame)
        predictor = forecaster.predictor
        windows = forecast_split(predictor, forecaster.prepared, "test")
        out[scale] = score(windows, predictor.quantiles)
        for rate in rates if scale == "series" else ():  # as served: the offsets learn
            out[adaptive(rate)] = score(served_adaptively(windows, predictor.quantiles, rate),
                                        predictor.quantiles)
    out = {variant: {c: float(metrics[c]) for c in COLUMNS} for variant, metrics in out.items()}
    print(json.dumps({"set": name, "seed": seed, **out}), flush=True)
    return out


def summary(runs: list[dict]) -> dict:
    result = {}
    for variant in runs[0]:
        result[variant] = {c: {"mean": float(np.mean([r[variant][c] for r in runs])),
                               "min": float(np.min([r[variant][c] for r in runs])),
                               "max": float(np.max([r[variant][c] for r in runs]))}
                           for c in COLUMNS}
    return result


def markdown(results: dict, seeds: list[int], model: str, preset: str) -> str:
    lines = [f"{model}, preset {preset}; mean over seeds {seeds} with the range (min-max).", "",
             "| set | offsets in | coverage 80% | coverage 90% | width 80% | WQL | MAE |",
             "|---|---|---|---|---|---|---|"]
    for name, by_scale in results.items():
        for scale, row in by_scale.items():
            cells = [f"{row[c]['mean']:.3f} ({row[c]['min']:.3f}-{row[c]['max']:.3f})"
                     if c.startswith(("coverage", "wql")) else
                     f"{row[c]['mean']:.1f} ({row[c]['min']:.1f}-{row[c]['max']:.1f})"
                     for c in COLUMNS]
            lines.append(f"| {name} | {scale} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", nargs="+", default=["vic_elec", "pedestrian", "shifted",
                                                      "robust", "late_shift", "tourism",
                                                      "air_quality"],
                        choices=list(SETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--model", default="transformer")
    parser.add_argument("--preset", default="quick", choices=["quick", "full"])
    parser.add_argument("--set", dest="extra", nargs="*", default=[],
                        help="config overrides, e.g. model.normalization=series")
    parser.add_argument("--rates", nargs="+", type=float, default=[DEFAULT_RATE],
                        help="the adaptive offsets' steps per scored point to replay, each on "
                             "the same forecasts (the service's FORECAST_ADAPTIVE_RATE)")
    parser.add_argument("--scales", nargs="+", default=list(get_args(Scale)),
                        choices=get_args(Scale),
                        help="the offsets' units to train and score, one training each")
    parser.add_argument("--output", default="interval_scale")
    args = parser.parse_args()
    results = {name: summary([one_seed(name, args.preset, args.model, seed, args.extra, args.rates,
                                       args.scales)
                              for seed in args.seeds]) for name in args.sets}
    text = markdown(results, args.seeds, args.model + "".join(f", {e}" for e in args.extra),
                    args.preset)
    save_results(args.output, {"model": args.model, "preset": args.preset, "extra": args.extra,
                               "rates": args.rates, "seeds": args.seeds, "sets": results}, text)
    print(text)


if __name__ == "__main__":
    main()
