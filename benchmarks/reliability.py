"""Reliability figures of the service (docs/RELIABILITY.md): a long fuzz run, a soak run,
ordinary latency under hostile clients, and the start-up time with the registry down.

1. fuzz: schemathesis from the service's own OpenAPI document, `--examples` valid and as many
   invalid generated requests per operation (default 1000 each; operations without inputs
   have one request to make): requests sent, 5xx answers, check failures.
2. soak: `--soak-seconds` (default 120) of closed-loop load at concurrency 32 on the vic_elec
   request: requests, errors, p99, and the worker's memory at minute 1 and at the end.
3. hostile: 4 ordinary clients in a closed loop for `--hostile-seconds` (default 30), alone
   and then while each kind of hostile client runs (`hostile_clients.py`: 600 slow bodies,
   1000 slow headers, 4 clients flooding explain, 4 clients sending 4 MB error bodies):
   ordinary p50 and p99, what the hostile clients were answered, the largest error answer
   and the longest line the service logged meanwhile.
4. startup: with the registry unreachable (no MLFLOW_HTTP_* settings, as a user starts it),
   seconds from `bentoml serve` to /readyz serving from the local cache, for a port that
   refuses connections and for one that accepts them and never answers.

Run: .venv/bin/python benchmarks/reliability.py [--parts fuzz soak hostile startup]
     [--examples 1000] [--soak-seconds 120] [--hostile-seconds 30]
Writes benchmarks/results/reliability.json (parts not run keep their last figures).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
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


def ordinary(url: str, seconds: float) -> dict:
    body, _ = vic_elec_request()
    return asyncio.run(load(url + "/predict", json.dumps(body).encode(), 4, seconds,
                            {"Authorization": f"Bearer {API_KEY}"}))


HOSTILE = {"slow-bodies": "600", "slow-headers": "1000", "explain": "32", "amplification": ""}


def hostile(url: str, log: Path, workdir: Path, seconds: float, kinds: list[str]) -> dict:
    """Ordinary latency alone, then while each hostile kind runs in a process of its own."""
    results: dict = {"alone": ordinary(url, seconds)}
    print(json.dumps({"alone": results["alone"]}), flush=True)
    for kind in kinds:
        extra = HOSTILE[kind]
        out = workdir / f"hostile-{kind}.json"
        logged = log.stat().st_size
        cmd = [sys.executable, str(Path(__file__).with_name("hostile_clients.py")), kind, url,
               API_KEY, str(seconds + 5), str(out), *([extra] if extra else [])]
        clients = subprocess.Popen(cmd, cwd=ROOT)
        time.sleep(4)  # the hostile clients start and reach their full pressure
        during = ordinary(url, seconds)
        clients.wait(timeout=seconds + 180)
        with log.open("rb") as handle:
            handle.seek(logged)
            lines = handle.read().splitlines()
        results[kind] = {"ordinary": during, "hostile": json.loads(out.read_text()),
                         "log_lines": len(lines),
                         "longest_log_line_bytes": max(map(len, lines), default=0)}
        print(json.dumps({kind: results[kind]}), flush=True)
    return results


def time_to_ready(env: dict, log: Path) -> tuple[float, str]:
    started = time.perf_counter()
    port = free_port()
    proc = start(bentoml_serve_cmd(port), log, cwd=ROOT,
                 env={k: v for k, v in child_env(env).items() if not k.startswith("MLFLOW_HTTP_")})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/readyz", timeout=600, proc=proc, interval=0.25)  # 503 until ready
        seconds = time.perf_counter() - started
        return seconds, httpx.get(url + "/model", timeout=10).json()["source"]
    finally:
        stop(proc)


def startup(env: dict, workdir: Path) -> dict:
    """The registry gone; the cache from the service's earlier start is all it has."""
    results = {}
    seconds, source = time_to_ready({**env, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
                                    workdir / "service-refused.log")
    results["refused"] = {"seconds": seconds, "source": source}
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        seconds, source = time_to_ready({**env, "MLFLOW_TRACKING_URI": uri},
                                        workdir / "service-silent.log")
    results["silent"] = {"seconds": seconds, "source": source}
    print(json.dumps({"startup_registry_down": results}), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", nargs="+", default=["fuzz", "soak", "hostile", "startup"],
                        choices=["fuzz", "soak", "hostile", "startup"])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--soak-seconds", type=float, default=120.0)
    parser.add_argument("--hostile-seconds", type=float, default=30.0)
    parser.add_argument("--hostile-kinds", nargs="+", default=list(HOSTILE), choices=HOSTILE)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="reliability-bench-"))
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = store
    os.chdir(workdir)
    version, _ = register("transformer", workdir)
    env = {"MLFLOW_TRACKING_URI": store, "FORECAST_MODEL_ALIAS": "bench-transformer",
           "FORECAST_CACHE_DIR": str(workdir / "cache"), "FORECAST_API_KEY": API_KEY}
    saved = RESULTS / "reliability.json"
    results: dict = json.loads(saved.read_text()) if saved.is_file() else {}
    results.update(model=f"transformer v{version}", machine=f"{os.cpu_count()} CPU cores")

    port = free_port()
    log = workdir / "service.log"
    proc = start(bentoml_serve_cmd(port), log, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/readyz", timeout=180, proc=proc)
        if "fuzz" in args.parts:
            started = time.perf_counter()
            code, counts = run_schemathesis(url, API_KEY, args.examples, workdir / "fuzz",
                                            timeout=3600)
            results["fuzz"] = {"examples_per_operation": args.examples, "exit_code": code,
                               "minutes": (time.perf_counter() - started) / 60, **counts}
            print(json.dumps(results["fuzz"]), flush=True)
        if "soak" in args.parts:
            results["soak"] = soak(url, psutil.Process(proc.pid), args.soak_seconds)
            print(json.dumps(results["soak"]), flush=True)
        if "hostile" in args.parts:
            results["hostile"] = hostile(url, log, workdir, args.hostile_seconds,
                                         args.hostile_kinds)
    finally:
        stop(proc)
    if "startup" in args.parts:
        results.pop("startup_registry_down_s", None), results.pop("startup_source", None)
        results["startup_registry_down"] = startup(env, workdir)
    RESULTS.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
