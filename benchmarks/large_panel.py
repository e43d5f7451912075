"""Many series: training memory and epoch time on generated panels, and batch scoring
throughput in this process and on Spark local[2].

1. `train`: a panel of N generated series (2 years hourly, benchmarks/panel_generator.py)
   trains a global transformer (default architecture, lookback 168, horizon 24, one training
   window a week per series, so an epoch is 99 windows a series, one epoch) in a fresh
   process: peak resident memory of that process (imports, data, windows, model,
   calibration, test scores) and the epoch's seconds.
2. `score`: 10,000 generated series, each the last 336 hours of its history, forecast 48
   hours ahead by the default-architecture transformer and lstm (a brief fit: the weights do
   not change the cost) with `forecast.batch.score_frame`: series per minute.
3. `embedding`: a global transformer with and without a series embedding on 300 series.
4. `spark`: the same 10,000 series through the MLflow pyfunc with
   `pipelines.spark_scoring.score_spark` on Spark local[2] against in-process scoring.

Run: .venv/bin/python benchmarks/large_panel.py [--train-series 1000 10000]
     [--parts train embedding score spark]
Writes benchmarks/results/large_panel.json and .md (a run of some parts keeps the others).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from panel_generator import write_panel  # noqa: E402
from results_files import RESULTS, save_results  # noqa: E402

from forecast import Forecaster, load_config  # noqa: E402
from forecast.batch import score_frame  # noqa: E402
from forecast.study.profiling import peak_rss_mb, reset_peak_rss  # noqa: E402

TRAIN = ["data.lookback=168", "data.horizon=24", "data.season=168", "data.freq=h",
         "data.calendar=[hour, dayofweek]", "data.past_covariates=[]",
         "data.future_covariates=[]", "data.val_size=336", "data.test_size=336",
         "data.window_step=168", "data.batch_size=1024", "trainer.max_epochs=1",
         "trainer.enable_progress_bar=false"]
SCORE = ["data.lookback=336", "data.horizon=48", "data.season=168", "data.freq=h",
         "data.calendar=[hour, dayofweek, dayofyear]", "data.past_covariates=[]",
         "data.future_covariates=[]", "data.val_size=336", "data.test_size=336",
         "trainer.max_epochs=1", "trainer.limit_train_batches=2",
         "trainer.limit_val_batches=2", "trainer.enable_progress_bar=false"]


def train_once(path: str, model: str) -> dict:
    """Runs in its own process (see `main`), so peak memory is this run's alone."""
    reset_peak_rss()
    start = time.perf_counter()
    config = load_config(ROOT / "pipelines/configs/default.yaml", [f"data.path={path}", *TRAIN])
    forecaster = Forecaster(model, config).fit()
    return {"model": model, "series": len(forecaster.prepared.panel.series),
            "points": len(forecaster.prepared.panel.values),
            "seconds_per_epoch": forecaster.report.epoch_seconds[0],
            "total_seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb(),
            "test_mase": forecaster.metrics["mase"]}


def train_part(sizes: list[int], work: Path) -> list[dict]:
    rows = []
    for n in sizes:
        path = write_panel(work / f"panel-{n}.parquet", n, 730)
        code = f"import large_panel, json; print(json.dumps(large_panel.train_once('{path}', 'transformer')))"
        done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent,
                              capture_output=True, text=True)
        if done.returncode != 0:
            rows.append({"series": n, "error": done.stderr[-400:]})
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def embedding_part(work: Path, n_series: int = 300) -> list[dict]:
    """The same global transformer with and without a series embedding (8 numbers a
    series), 300 generated series of 180 days: test MAE and MASE on the same windows."""
    path = write_panel(work / "embedding.parquet", n_series, 180)
    rows = []
    for dim in (0, 8):
        config = load_config(ROOT / "pipelines/configs/default.yaml", [
            f"data.path={path}", *TRAIN[:-4], "data.window_step=24", "data.batch_size=512",
            "trainer.max_epochs=5", "trainer.enable_progress_bar=false",
            f"model.series_embedding={dim}"])
        forecaster = Forecaster("transformer", config).fit()
        rows.append({"series_embedding": dim, "series": n_series,
                     "test_mae": forecaster.metrics["mae"],
                     "test_mase": forecaster.metrics["mase"],
                     "epochs": forecaster.report.epochs_run})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def scoring_frame(work: Path, n: int) -> pd.DataFrame:
    """The last 336 hours of each of `n` generated series."""
    path = write_panel(work / f"score-{n}.parquet", n, 15)
    frame = pd.read_parquet(path)
    return frame.groupby("unique_id", observed=True).tail(336).reset_index(drop=True)


def fitted(work: Path, model: str) -> Forecaster:
    path = write_panel(work / "fit.parquet", 50, 120)
    config = load_config(ROOT / "pipelines/configs/default.yaml", [f"data.path={path}", *SCORE])
    return Forecaster(model, config).fit()


def score_part(frame: pd.DataFrame, work: Path) -> list[dict]:
    rows = []
    for model in ("transformer", "lstm"):
        predictor = fitted(work, model).predictor
        start = time.perf_counter()
        result = score_frame(predictor, frame, batch_size=512)
        seconds = time.perf_counter() - start
        rows.append({"model": model, "series": result.n_series, "refused": len(result.errors),
                     "seconds": seconds, "series_per_minute": 60 * result.n_series / seconds})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def spark_part(frame: pd.DataFrame, work: Path) -> dict:
    import mlflow
    from pyspark.sql import SparkSession

    from pipelines.mlflow_run import PYFUNC_CODE, PYFUNC_REQUIREMENTS
    from pipelines.spark_scoring import score_spark

    forecaster = fitted(work, "transformer")
    forecaster.save(work / "model")
    mlflow.pyfunc.save_model(str(work / "pyfunc"), python_model=str(PYFUNC_CODE),
                             artifacts={"model_dir": str(work / "model")},
                             pip_requirements=PYFUNC_REQUIREMENTS)
    start = time.perf_counter()
    local = score_frame(forecaster.predictor, frame, batch_size=512)
    in_process = time.perf_counter() - start
    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "4g").getOrCreate())
    data = spark.createDataFrame(frame.astype({"unique_id": str})).cache()
    data.count()  # materialise before timing: the scoring is measured, not the upload
    start = time.perf_counter()
    rows = score_spark(data, str(work / "pyfunc")).count()
    on_spark = time.perf_counter() - start
    spark.stop()
    return {"series": local.n_series, "in_process_seconds": in_process,
            "spark_seconds": on_spark, "spark_rows": rows,
            "spark_over_in_process_throughput": in_process / on_spark}


def markdown(results: dict) -> str:
    lines = ["| series | points | s/epoch | peak RSS MB | test MASE |", "|---|---|---|---|---|"]
    for r in results.get("train", []):
        if "error" in r:
            lines.append(f"| {r['series']} | - | failed | - | - |")
            continue
        lines.append(f"| {r['series']} | {r['points']:,} | {r['seconds_per_epoch']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['test_mase']:.3f} |")
    lines += ["", "| model | series | seconds | series/minute |", "|---|---|---|---|"]
    for r in results.get("score", []):
        lines.append(f"| {r['model']} | {r['series']} | {r['seconds']:.1f} | "
                     f"{r['series_per_minute']:,.0f} |")
    if "embedding" in results:
        lines += ["", "| series embedding | test MAE | test MASE | epochs |", "|---|---|---|---|"]
        for r in results["embedding"]:
            lines.append(f"| {r['series_embedding'] or 'none'} | {r['test_mae']:.2f} | "
                         f"{r['test_mase']:.3f} | {r['epochs']} |")
    if "spark" in results:
        s = results["spark"]
        lines += ["", f"Spark local[2]: {s['spark_seconds']:.1f} s for {s['series']} series; "
                      f"in-process {s['in_process_seconds']:.1f} s; Spark's throughput is "
                      f"{s['spark_over_in_process_throughput']:.2f}x in-process."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-series", nargs="*", type=int, default=[1000, 10_000])
    parser.add_argument("--score-series", type=int, default=10_000)
    parser.add_argument("--parts", nargs="*", default=["train", "embedding", "score", "spark"])
    args = parser.parse_args()
    saved = RESULTS / "large_panel.json"
    results: dict = json.loads(saved.read_text()) if saved.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "train" in args.parts:
            results["train"] = train_part(args.train_series, work)
        if "embedding" in args.parts:
            results["embedding"] = embedding_part(work)
        if {"score", "spark"} & set(args.parts):
            frame = scoring_frame(work, args.score_series)
            if "score" in args.parts:
                results["score"] = score_part(frame, work)
            if "spark" in args.parts:
                results["spark"] = spark_part(frame, work)
    save_results("large_panel", results, markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
