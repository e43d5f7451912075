"""The after-deployment stream (pipelines/stream.py) against real servers, twice: adaptive
intervals on, then off (FORECAST_ADAPTIVE=off), each with its own tracking store and log.
Prints per-day MAE, coverage and status, saves benchmarks/results/stream.json and .md, and
draws docs/images/after_deployment.png (the README's picture).

Run: .venv/bin/python benchmarks/stream.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from results_files import save_results  # noqa: E402

from pipelines.cli import main as forecast_cli  # noqa: E402
from pipelines.stream import (  # noqa: E402
    CALM_DAYS,
    SHIFTED_DAYS,
    TRAIN_DAYS,
    WINDOW_DAYS,
    Client,
    StreamRun,
    make_stream,
    plot,
    run_stream,
    stream_config,
    upto,
)
from tests.servers import bento_server, mlflow_server  # noqa: E402


def one_run(seed: int, adaptive: bool) -> StreamRun:
    workdir = Path(tempfile.mkdtemp(prefix=f"stream-{'on' if adaptive else 'off'}-"))
    stream = make_stream(seed=seed)
    upto(stream, TRAIN_DAYS).to_csv(workdir / "first.csv", index=False)
    config = stream_config(workdir / "stream.yaml", workdir / "first.csv")
    log_url = f"sqlite:///{workdir / 'forecast_log.db'}"
    os.chdir(workdir)
    os.environ["FORECAST_LOG_URL"] = log_url
    with mlflow_server(workdir / "store") as (uri, _):
        os.environ["MLFLOW_TRACKING_URI"] = uri
        assert forecast_cli(["compare", "--config", str(config)]) == 0
        env = {"MLFLOW_TRACKING_URI": uri, "FORECAST_CACHE_DIR": str(workdir / "cache"),
               "FORECAST_LOG_URL": log_url, "FORECAST_MONITOR_WINDOW_DAYS": str(WINDOW_DAYS),
               "FORECAST_ADAPTIVE": "on" if adaptive else "off"}
        with bento_server(env, workdir / "bento.log") as url:
            def retrain(data):
                assert forecast_cli(["retrain", "--when", "degraded", "--data", str(data),
                                     "--window-days", str(WINDOW_DAYS)]) == 0
            return run_stream(Client(url), stream, workdir, retrain)


def summary(run: StreamRun) -> dict:
    days = run.frame().set_index("day")
    shift = TRAIN_DAYS + CALM_DAYS
    calm, shifted = days.loc[:shift - 1], days.loc[shift:shift + SHIFTED_DAYS - 1]
    after = days.loc[shift + SHIFTED_DAYS:]
    return {"coverage_calm": calm["coverage_80"].mean(),
            "coverage_first_shifted_day": shifted["coverage_80"].iloc[0],
            "coverage_shift_days_2_to_7": shifted["coverage_80"].iloc[1:7].mean(),
            "coverage_shift_last_7_days": shifted["coverage_80"].iloc[-7:].mean(),
            "coverage_after_retrain": after["coverage_80"].mean(),
            "mae_calm": calm["mae"].mean(), "mae_shift_last_4_days": shifted["mae"].iloc[-4:].mean(),
            "mae_after_retrain": after["mae"].mean(),
            "days_to_degraded": (run.degraded_on - shift) if run.degraded_on else None,
            "retrained_to": run.retrained_to}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    args = parser.parse_args()
    result: dict = {"seeds": args.seeds}
    for name, adaptive in (("adaptive on", True), ("adaptive off", False)):
        runs = {seed: one_run(seed, adaptive) for seed in args.seeds}
        if name == "adaptive on":
            first = runs[args.seeds[0]]
        else:  # the picture: the first seed, adaptive on and off
            plot(first, ROOT / "docs" / "images" / "after_deployment.png",
                 without_adaptation=runs[args.seeds[0]])
        summaries = pd.DataFrame([summary(run) for run in runs.values()], index=args.seeds)
        numbers = summaries.select_dtypes("number")
        result[name] = {"per_seed": summaries.to_dict("index"),
                        "mean": numbers.mean().to_dict(), "sd": numbers.std().to_dict(),
                        "days": {seed: run.frame().to_dict("records")
                                 for seed, run in runs.items()}}
    lines = [f"seeds {args.seeds}: mean +- sd", "", "| | adaptive on | adaptive off |",
             "|---|---|---|"]
    for key in result["adaptive on"]["mean"]:
        cells = [f"{result[n]['mean'][key]:.2f} +- {result[n]['sd'][key]:.2f}"
                 for n in ("adaptive on", "adaptive off")]
        lines.append(f"| {key} | {cells[0]} | {cells[1]} |")
    save_results("stream", result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
