"""Interval figures: coverage, width and quantile loss of calibrated, uncalibrated and
point-plus-residual models against seasonal naive's empirical quantiles, per data set.

Run: .venv/bin/python benchmarks/calibration.py [--tasks vic_elec pedestrian]
     [--model transformer] [--preset default]
Writes benchmarks/results/calibration.json and .md, and the reliability diagrams and fan
charts under docs/images/.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from datasets import TASKS, Task  # noqa: E402
from results_files import save_results  # noqa: E402

from forecast.calibration import Calibration  # noqa: E402
from forecast.datamodule import prepare_data  # noqa: E402
from forecast.evaluation import forecast_split, score  # noqa: E402
from forecast.metrics import quantile_hits  # noqa: E402
from forecast.training import train  # noqa: E402
from pipelines.plots import fan_chart, reliability_diagram  # noqa: E402

IMAGES = Path(__file__).parent.parent / "docs" / "images"
COLUMNS = ("mae", "coverage_80", "coverage_90", "width_80", "width_90", "wql", "crps")


def variants(task: Task, model: str) -> dict[str, tuple]:
    """label -> (config, post-processing of the trained predictor)."""
    quantile = task.config.with_model(model)
    return {
        f"{model} quantiles + conformal": (quantile, None),
        f"{model} quantiles, uncalibrated": (quantile, "identity"),  # same network
        f"{model} point (mse) + residual conformal": (
            quantile.with_values({"model.loss": "mse"}), None),
        "seasonal_naive empirical": (task.config.with_model("seasonal_naive"), None),
    }


def run_task(task: Task, model: str) -> dict:
    prepared = prepare_data(task.config.data, task.frame)
    rows, curves, trained = [], {}, {}
    for label, (config, post) in variants(task, model).items():
        key = (config.model.name, config.model.training_loss)
        start = time.perf_counter()
        if key not in trained:
            trained[key] = train(config.with_values(
                {"trainer.enable_progress_bar": False}), prepared)[0]
        fit_seconds = time.perf_counter() - start
        predictor = trained[key]
        if post == "identity":
            predictor = predictor.with_calibration(
                Calibration.identity(predictor.quantiles, False))
        result = forecast_split(predictor, prepared, "test")
        metrics = score(result, predictor.quantiles)
        levels = list(predictor.quantiles)
        hits = quantile_hits(result.actual, result.forecast)
        curves[label] = (levels, hits)
        rows.append({"model": label, "calibration": predictor.calibration.method,
                     "calibration_windows": predictor.calibration.windows,
                     "fit_seconds": fit_seconds, "hits": dict(zip(map(str, levels),
                                                                  hits.tolist(), strict=True)),
                     **{c: metrics[c] for c in COLUMNS}})
        print(json.dumps(rows[-1]), flush=True)
        if label.endswith("+ conformal") and "point" not in label:
            IMAGES.mkdir(parents=True, exist_ok=True)
            fan_chart(result, levels, IMAGES / f"fan_chart_{task.name}.png",
                      f"{task.name}: {model}, calibrated intervals on the last test window")
    reliability_diagram(curves, IMAGES / f"reliability_{task.name}.png",
                        f"{task.name}: calibration on the test windows")
    return {"task": task.name, "why": task.why, "rows": rows, **ratios(rows, model)}


def ratios(rows: list[dict], model: str) -> dict[str, float]:
    by = {r["model"]: r for r in rows}
    champion = by[f"{model} quantiles + conformal"]
    return {
        "wql_vs_seasonal_naive": champion["wql"] / by["seasonal_naive empirical"]["wql"] - 1,
        "median_mae_vs_point_mae": champion["mae"] /
        by[f"{model} point (mse) + residual conformal"]["mae"] - 1,
    }


def markdown(results: list[dict]) -> str:
    lines = []
    for result in results:
        lines += [f"### {result['task']}", "", result["why"], "",
                  "| model | calibration | MAE | coverage 80% | coverage 90% | width 80% | "
                  "width 90% | WQL | CRPS |", "|---|---|---|---|---|---|---|---|---|"]
        for r in result["rows"]:
            lines.append(f"| {r['model']} | {r['calibration']} | {r['mae']:.1f} | "
                         f"{r['coverage_80']:.3f} | {r['coverage_90']:.3f} | "
                         f"{r['width_80']:.0f} | {r['width_90']:.0f} | {r['wql']:.4f} | "
                         f"{r['crps']:.1f} |")
        lines += ["", f"- calibrated model's WQL vs seasonal naive's empirical quantiles: "
                      f"{100 * result['wql_vs_seasonal_naive']:+.1f}%",
                  f"- its median's MAE vs the point (mse) model's MAE: "
                  f"{100 * result['median_mae_vs_point_mae']:+.1f}%", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--model", default="transformer")
    parser.add_argument("--preset", default="default")
    args = parser.parse_args()
    results = [run_task(TASKS[name](args.preset), args.model) for name in args.tasks]
    save_results("calibration", results, markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
