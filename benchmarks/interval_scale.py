"""Intervals that follow the local spread: one network per seed and scale, trained with
offsets in the series' training units (`model.calibration_scale: series`, the default) or in
units of each window's own spread (`window`), scored on the test part of each set; and the
first as the service serves it (`series, adaptive RATES`, one row per `--rates`, each a
FORECAST_ADAPTIVE_RATE setting: `default` for the service's trackers, or one rate for a
single tracker): test windows in time order, the adaptive offsets learning from each
window's actuals before the next (`served_adaptively`). `--save-windows DIR` keeps each
training's test forecasts (`SET_SEED.npz`); `--from-windows DIR` replays the rates on them
without training (the `series` rows only), so a change to the adaptive offsets is measured in
seconds on the forecasts of a run that took an hour.

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
     [--rates default 0.015 ...] [--save-windows DIR | --from-windows DIR]
     [--output interval_scale]
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
from forecast.evaluation import (  # noqa: E402
    forecast_split,
    offset_units,
    score,
    served_adaptively,
)
from forecast.metrics import mae, point_index, quantile_metrics  # noqa: E402
from forecast.monitoring.adaptive import parse_rates, replay_offsets  # noqa: E402

COLUMNS = ("coverage_80", "coverage_90", "width_80", "wql", "mae")
WINDOW_ARRAYS = ("forecast", "actual", "series", "starts", "scale")


def adaptive(setting: str) -> str:
    return f"series, adaptive {setting}"


def rates_of(setting: str) -> tuple[float, ...]:
    return parse_rates(None if setting == "default" else setting)


def save_windows(path: Path, windows, quantiles: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, forecast=windows.forecast, actual=windows.actual, series=windows.series,
             starts=windows.starts, scale=offset_units(windows), quantiles=np.array(quantiles))


def replayed_seed(path: Path, rates: list[str]) -> dict[str, dict]:
    """The `series` rows of one saved training: its test forecasts as trained and as served
    at each rate setting, scored as `score` does (the median's MAE unchanged by serving)."""
    saved = np.load(path)
    forecast, actual, series, starts, scale = (saved[k] for k in WINDOW_ARRAYS)
    quantiles = [float(q) for q in saved["quantiles"]]
    point_mae = mae(actual, forecast[..., point_index(quantiles)])  # as `score` has it
    rows = {"series": forecast} | {
        adaptive(r): replay_offsets(forecast, actual, series, starts, scale, tuple(quantiles),
                                    rates_of(r)) for r in rates}
    return {variant: {**{c: float(v) for c, v in quantile_metrics(actual, f, quantiles).items()
                         if c in COLUMNS}, "mae": point_mae} for variant, f in rows.items()}


def one_seed(name: str, preset: str, model: str, seed: int, extra: list[str],
             rates: list[str], scales: list[str], windows_dir: Path | None = None
             ) -> dict[str, dict]:
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
        if windows_dir is not None and scale == "series":
            save_windows(windows_dir / f"{name}_{seed}.npz", windows, predictor.quantiles)
        for rate in rates if scale == "series" else ():  # as served: the offsets learn
            out[adaptive(rate)] = score(served_adaptively(windows, predictor.quantiles,
                                                          rates_of(rate)),
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


def markdown(results: dict, seeds: list[int], trained: str) -> str:
    lines = [f"{trained}; mean over seeds {seeds} with the range (min-max).", "",
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
    parser.add_argument("--rates", nargs="+", default=["default"],
                        help="FORECAST_ADAPTIVE_RATE settings to replay, each on the same "
                             "forecasts: `default` (the service's trackers), one rate (a "
                             "single tracker) or several comma-separated")
    parser.add_argument("--scales", nargs="+", default=list(get_args(Scale)),
                        choices=get_args(Scale),
                        help="the offsets' units to train and score, one training each")
    parser.add_argument("--save-windows", type=Path,
                        help="keep each training's test forecasts here, to replay later")
    parser.add_argument("--from-windows", type=Path,
                        help="replay the rates on forecasts --save-windows kept; no training")
    parser.add_argument("--output", default="interval_scale")
    args = parser.parse_args()
    for setting in args.rates:
        rates_of(setting)  # a bad setting fails before an hour of training
    if args.from_windows:
        results = {name: summary([replayed_seed(args.from_windows / f"{name}_{seed}.npz",
                                                args.rates) for seed in args.seeds])
                   for name in args.sets}
    else:
        results = {name: summary([one_seed(name, args.preset, args.model, seed, args.extra,
                                           args.rates, args.scales, args.save_windows)
                                  for seed in args.seeds]) for name in args.sets}
    if args.from_windows:  # the saved forecasts' training settings are the saving run's
        trained = f"test forecasts saved in {args.from_windows.name}/ (--save-windows), replayed"
        run = {"from_windows": args.from_windows.name}
    else:
        trained = (f"{args.model}{''.join(f', {e}' for e in args.extra)}, preset "
                   f"{args.preset}")
        run = {"model": args.model, "preset": args.preset, "extra": args.extra}
    text = markdown(results, args.seeds, trained)
    save_results(args.output, {**run, "rates": args.rates, "seeds": args.seeds,
                               "sets": results}, text)
    print(text)


if __name__ == "__main__":
    main()
