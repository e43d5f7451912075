"""After deployment, measured: what the forecast log costs `/predict`, how long scoring a
million logged points takes, and continued training against training from scratch.

1. `/predict` at concurrency 32 (the default transformer, vic_elec, one series a request),
   log on and log off, in one run, alternating the two servers `--rounds` times so drift of
   a noisy machine falls on both;
2. 1,000,000 logged forecast points (1,000 series x 21 origins x 48 steps) with their actuals
   in SQLite: seconds to read and join them and to compute the live scores;
3. the stream of pipelines/stream.py, per seed: a model trained on its first 60 days, then
   the last three weeks after the shift either trained from scratch (the stream's full
   budget) or continued from that model (5 epochs): wall time, test MAE on those weeks and
   live MAE on the four days after.

Run: .venv/bin/python benchmarks/monitoring.py [--seconds 10] [--rounds 3] [--seeds 0 1 2]
Writes benchmarks/results/monitoring.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from results_files import RESULTS, save_results  # noqa: E402
from serve_load import load, register, request_frames  # noqa: E402

from forecast import Forecaster, load_config  # noqa: E402
from forecast.monitoring import ForecastLog, ForecastRecord, live_scores  # noqa: E402
from tests.servers import free_port, start, stop, wait_http  # noqa: E402

RESULTS_FILE = RESULTS / "monitoring.json"


def throughput(seconds: float, rounds: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = store
    os.chdir(workdir)
    register("transformer", workdir)
    body = json.dumps(request_frames()[0]).encode()
    results: dict[str, list[float]] = {"log on": [], "log off": []}
    servers = {}
    for name, log in (("log on", "on"), ("log off", "off")):
        port = free_port()
        env = {"MLFLOW_TRACKING_URI": store, "FORECAST_MODEL_ALIAS": "bench-transformer",
               "FORECAST_CACHE_DIR": str(workdir / f"cache-{log}"), "FORECAST_LOG": log,
               "FORECAST_LOG_URL": f"sqlite:///{workdir / 'forecast_log.db'}"}
        proc = start([sys.executable, "-m", "bentoml", "serve", "service.service:Forecaster",
                      "--host", "127.0.0.1", "--port", str(port)], workdir / f"{log}.log",
                     env=env, cwd=ROOT)
        servers[name] = (proc, f"http://127.0.0.1:{port}")
    try:
        for proc, url in servers.values():
            wait_http(url + "/readyz", timeout=180, proc=proc)
            assert httpx.post(url + "/predict", content=body, timeout=60, headers={
                "content-type": "application/json"}).status_code == 200
        for r in range(rounds):  # on-off, off-on, ...: a drifting machine hits both alike
            order = list(servers.items()) if r % 2 == 0 else list(servers.items())[::-1]
            for name, (_, url) in order:
                result = uvloop.run(load(url + "/predict", body, 32, seconds))
                assert result["errors"] == 0, result
                results[name].append(result["rps"])
                print(f"{name}: {result['rps']:.0f} req/s, p99 {result['p99_ms']:.0f} ms",
                      flush=True)
        report = httpx.get(servers["log on"][1] + "/monitoring", timeout=60).json()
    finally:
        for proc, _ in servers.values():
            stop(proc)
    on, off = np.mean(results["log on"]), np.mean(results["log off"])
    return {"rps_log_on": results["log on"], "rps_log_off": results["log off"],
            "mean_on": on, "mean_off": off, "cost": 1 - on / off,
            "dropped": report["log"]["dropped"], "seconds_per_measure": seconds}


def scoring(points: int = 1_000_000, workdir: Path | None = None) -> dict:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="monitor-score-"))
    store = ForecastLog(f"sqlite:///{workdir / 'log.db'}")
    levels = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
    rng = np.random.default_rng(0)
    n_series, horizon = 1000, 48
    origins = max(1, -(-points // (n_series * horizon)))  # at least `points`
    start_write = time.perf_counter()
    for o in range(origins):
        origin = pd.Timestamp("2024-01-01") + pd.Timedelta(days=o)
        ds = pd.date_range(origin + pd.Timedelta(minutes=30), periods=horizon, freq="30min")
        records = []
        for s in range(n_series):
            median = rng.normal(100, 10, horizon)
            quantiles = median[:, None] + np.linspace(-20, 20, len(levels))[None, :]
            records.append(ForecastRecord("bench", "1", "r", f"s{s}", origin, ds, median,
                                          levels, quantiles, 10.0, 8.0, 100.0))
        store.write_forecasts(records)
        store.add_actuals(pd.DataFrame({
            "unique_id": np.repeat([f"s{s}" for s in range(n_series)], horizon),
            "ds": np.tile(ds, n_series), "y": rng.normal(100, 12, n_series * horizon)}))
    written = time.perf_counter() - start_write
    t0 = time.perf_counter()
    joined = store.joined("bench", "1")
    t1 = time.perf_counter()
    scores = live_scores(joined)
    t2 = time.perf_counter()
    return {"points": len(joined), "write_and_actuals_s": written, "read_join_s": t1 - t0,
            "score_s": t2 - t1, "total_s": t2 - t0, "mae": scores.overall["mae"],
            "coverage_80": scores.overall["coverage_80"]}


def continued_vs_scratch(seeds: list[int]) -> list[dict]:
    from pipelines.stream import (
        AFTER_DAYS,
        CALM_DAYS,
        RETRAIN_DAYS,
        SHIFTED_DAYS,
        TRAIN_DAYS,
        make_stream,
        stream_config,
        upto,
    )

    rows = []
    workdir = Path(tempfile.mkdtemp(prefix="monitor-continue-"))
    end = TRAIN_DAYS + CALM_DAYS + SHIFTED_DAYS
    for seed in seeds:
        stream = make_stream(seed=seed)
        first = workdir / f"first-{seed}.csv"
        upto(stream, TRAIN_DAYS).to_csv(first, index=False)
        recent = upto(stream, end)
        recent = recent[recent["ds"] > recent["ds"].max() - pd.Timedelta(days=RETRAIN_DAYS)]
        newer = workdir / f"newer-{seed}.csv"
        recent.to_csv(newer, index=False)
        after = upto(stream, end + AFTER_DAYS)
        path = stream_config(workdir / "stream.yaml", first)
        quiet = ["trainer.enable_progress_bar=false", f"trainer.seed={seed}"]
        base = Forecaster(config=load_config(path, quiet)).fit()
        for how in ("scratch", "continued"):
            overrides = [*quiet, f"data.path={newer}"]
            if how == "continued":
                overrides.append("trainer.max_epochs=5")
            t0 = time.perf_counter()
            model = Forecaster(config=load_config(path, overrides)).fit(
                init=base if how == "continued" else None)
            seconds = time.perf_counter() - t0
            live = []
            for day in range(end, end + AFTER_DAYS):
                history = upto(after, day)
                truth = upto(after, day + 1)
                truth = truth[truth["ds"] >= history["ds"].max()]
                forecast = model.predict(history.groupby("unique_id").tail(24 * 7))
                merged = forecast.merge(truth, on=["unique_id", "ds"])
                live.append(float(np.mean(np.abs(merged["mean"] - merged["y"]))))
            rows.append({"seed": seed, "how": how, "seconds": seconds,
                         "epochs": model.report.epochs_run,
                         "test_mae": model.metrics["mae"], "live_mae_after": float(np.mean(live))})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(result: dict) -> str:
    t, s, rows = result["throughput"], result["scoring"], result["continued"]  # all three parts
    lines = ["## /predict at concurrency 32, the log on and off (one run, alternated)", "",
             f"- log on: {', '.join(f'{r:.0f}' for r in t['rps_log_on'])} req/s "
             f"(mean {t['mean_on']:.0f})",
             f"- log off: {', '.join(f'{r:.0f}' for r in t['rps_log_off'])} req/s "
             f"(mean {t['mean_off']:.0f})",
             f"- cost of the log: {100 * t['cost']:.1f}% of throughput; records dropped: "
             f"{t['dropped']}", "",
             "## Scoring logged forecasts", "",
             f"{s['points']:,} points: read and joined in {s['read_join_s']:.1f} s, scored in "
             f"{s['score_s']:.1f} s ({s['total_s']:.1f} s in all; writing them and their "
             f"actuals took {s['write_and_actuals_s']:.0f} s)", "",
             "## Continued training against training from scratch (the stream, after the shift)",
             "", "| seed | how | seconds | epochs | test MAE | live MAE, 4 days after |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['how']} | {r['seconds']:.1f} | {r['epochs']} | "
                     f"{r['test_mae']:.2f} | {r['live_mae_after']:.2f} |")
    frame = pd.DataFrame(rows)
    for how, group in frame.groupby("how"):
        lines.append(f"| mean +- sd | {how} | {group['seconds'].mean():.1f} +- "
                     f"{group['seconds'].std():.1f} | | {group['test_mae'].mean():.2f} +- "
                     f"{group['test_mae'].std():.2f} | {group['live_mae_after'].mean():.2f} +- "
                     f"{group['live_mae_after'].std():.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--parts", nargs="*", default=["continued", "scoring", "throughput"])
    args = parser.parse_args()
    saved = RESULTS_FILE.exists() and json.loads(RESULTS_FILE.read_text())
    result = dict(saved) if saved else {}  # parts not run now are kept from the last run
    if "continued" in args.parts:
        result["continued"] = continued_vs_scratch(args.seeds)
    if "scoring" in args.parts:
        result["scoring"] = scoring(args.points)
        print(json.dumps(result["scoring"]), flush=True)
    if "throughput" in args.parts:
        result["throughput"] = throughput(args.seconds, args.rounds)
    save_results("monitoring", result, markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
