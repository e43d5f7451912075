"""Reliability figures of the service (docs/RELIABILITY.md): a long fuzz run, a soak run and
the start-up time with the registry down.

1. Fuzz: schemathesis from the service's own OpenAPI document, `--examples` valid and as many
   invalid generated requests per operation (default 1000 each; operations without inputs
   have one request to make): requests sent, 5xx answers, check failures.
2. Soak: `--soak-seconds` (default 120) of closed-loop load at concurrency 32 on the vic_elec
   request: requests, errors, p99, and the worker's memory at minute 1 and at the end.
3. Start-up with the registry unreachable (no MLFLOW_HTTP_* settings, as a user starts it):
   seconds from `bentoml serve` to /readyz, serving from the local cache.

Run: .venv/bin/python benchmarks/reliability.py [--examples 1000] [--soak-seconds 120]
Writes benchmarks/results/reliability.json and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serve_load import load, register  # noqa: E402

from pipelines.client import vic_elec_request  # noqa: E402
from pipelines.tracking import child_env  # noqa: E402
from tests.servers import bentoml_serve_cmd, free_port, start, stop, wait_http  # noqa: E402
from tests.service.fuzz import run_schemathesis  # noqa: E402

RESULTS = Path(__file__).parent / "results"
API_KEY = "reliability-bench-key"


def worker_rss_mb(server: psutil.Process) -> float:
    """The largest process under `bentoml serve`: the worker that holds the model."""
    processes = [server, *server.children(recursive=True)]
    return max(p.memory_info().rss for p in processes if p.is_running()) / 2**20


def soak(url: str, server: psutil.Process, seconds: float) -> dict:
    samples: list[tuple[float, float]] = []
    stop_sampling = threading.Event()

    def sample() -> None:
        start_time = time.perf_counter()
        while not stop_sampling.wait(1.0):
            samples.append((time.perf_counter() - start_time, worker_rss_mb(server)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    body, _ = vic_elec_request()
    result = asyncio.run(load(url + "/predict", json.dumps(body).encode(), 32, seconds,
                              {"Authorization": f"Bearer {API_KEY}"}))
    stop_sampling.set()
    sampler.join()
    at_minute = next((mb for t, mb in samples if t >= 60), samples[0][1])
    end = samples[-1][1]
    return {**result, "seconds": seconds, "rss_mb_minute_1": at_minute, "rss_mb_end": end,
            "rss_growth_pct": 100 * (end - at_minute) / at_minute}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--soak-seconds", type=float, default=120.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="reliability-bench-"))
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = store
    os.chdir(workdir)
    version = register("transformer", workdir)
    env = {"MLFLOW_TRACKING_URI": store, "FORECAST_MODEL_ALIAS": "bench-transformer",
           "FORECAST_CACHE_DIR": str(workdir / "cache"), "FORECAST_API_KEY": API_KEY}
    results: dict = {"model": f"transformer v{version}"}

    port = free_port()
    proc = start(bentoml_serve_cmd(port), workdir / "service.log", env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/readyz", timeout=180, proc=proc)
        started = time.perf_counter()
        code, counts = run_schemathesis(url, API_KEY, args.examples, workdir / "fuzz",
                                        timeout=3600)
        results["fuzz"] = {"examples_per_operation": args.examples, "exit_code": code,
                           "minutes": (time.perf_counter() - started) / 60, **counts}
        print(json.dumps(results["fuzz"]), flush=True)
        results["soak"] = soak(url, psutil.Process(proc.pid), args.soak_seconds)
        print(json.dumps(results["soak"]), flush=True)
    finally:
        stop(proc)

    # the registry is gone; the cache from the run above is all the service has
    down = {**env, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}
    started = time.perf_counter()
    proc = start(bentoml_serve_cmd(free_port()), workdir / "service-down.log",
                 env={k: v for k, v in child_env(down).items()
                      if not k.startswith("MLFLOW_HTTP_")}, cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{proc.args[-1]}"
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        results["startup_registry_down_s"] = time.perf_counter() - started
        results["startup_source"] = httpx.get(url + "/model", timeout=10).json()["source"]
    finally:
        stop(proc)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reliability.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
