"""Load test: single-series /predict against `bentoml serve` and `mlflow models serve`.

For the default `transformer` and `lstm` architectures (336 in, 48 out), measured in one run
on this machine, client included: requests/s and p50/p95/p99 latency at concurrency
1, 8, 32, 64, errors, and the in-process forward time at batch 1 and 64 as the floor.
Weights are trained for a few batches only: serving cost depends on the architecture, not on
how well it was trained.

Run: .venv/bin/python benchmarks/serve_load.py [--seconds 8] [--models transformer lstm]
[--copies 1 3] (`--copies`: the transformer also at these numbers of copies, so their cost is
measured in the same run; every row records the copies it served).
Writes benchmarks/results/serve_load.json and .md. Service settings (FORECAST_MAX_BATCH_SIZE,
FORECAST_TORCH_THREADS, ...) are taken from this script's environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import numpy as np
import torch
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results_files import save_results  # noqa: E402

from forecast import Forecaster, Predictor, load_config  # noqa: E402
from forecast.batch import series_inputs  # noqa: E402
from forecast.data import load_vic_elec  # noqa: E402
from pipelines.client import vic_elec_request  # noqa: E402
from tests.servers import free_port, start, stop, wait_http  # noqa: E402

LEVELS = (1, 8, 32, 64)


def register(name: str, workdir: Path, copies: int | None = None, alias: str | None = None
             ) -> tuple[str, int]:
    """Train briefly, log as pyfunc, register; the alias `bench-<alias>` (`alias`: `name`
    unless given) points at it.
    Returns the version and the number of networks it holds (`copies`: the family's default
    when None)."""
    import mlflow

    from pipelines.bundle import write_bundle
    from pipelines.mlflow_run import log_bundle, log_pyfunc
    from pipelines.registry import register_version, set_alias
    from pipelines.tracking import connect, ensure_experiment

    config = load_config(ROOT / "pipelines/configs/default.yaml", [
        f"model.name={name}", "trainer.max_epochs=1", "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=2", "trainer.enable_progress_bar=false",
        *([f"model.copies={copies}"] if copies else [])])
    forecaster = Forecaster(config=config).fit()
    bundle = write_bundle(forecaster, root=workdir / "runs")
    client = connect()
    run_id = log_bundle(bundle, ensure_experiment(client, "bench"))
    uri, model_id = log_pyfunc(run_id, bundle / "model")
    version = register_version(client, "forecaster", uri, run_id, model_id)
    set_alias(client, "forecaster", f"bench-{alias or name}", version)
    mlflow.end_run()
    return version, config.model.network_copies


def request_frames():
    frame = load_vic_elec()
    history, ahead = frame.iloc[-336 - 48:-48], frame.iloc[-48:]
    bento, _ = vic_elec_request()
    rows = frame.iloc[-336 - 48:].copy()
    rows.loc[rows.index[-48:], ["y", "Temperature"]] = None
    rows["ds"] = rows["ds"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    pyfunc = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
    return bento, pyfunc, history, ahead


async def load(url: str, body: bytes, concurrency: int, seconds: float,
               extra_headers: dict | None = None) -> dict:
    """Closed-loop load: `concurrency` clients, each sending its next request on an answer.

    aiohttp on uvloop with the body encoded once: the generator shares the cores with the
    server, so every millisecond it spends is one the server does not get (its CPU time per
    request is reported as `client_cpu_ms`).
    """
    latencies, errors, statuses = [], 0, {}
    headers = {"content-type": "application/json", **(extra_headers or {})}
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        async def worker():
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    async with client.post(url, data=body, headers=headers) as r:
                        await r.read()
                        code = r.status
                except (aiohttp.ClientError, TimeoutError):
                    code = -1
                statuses[code] = statuses.get(code, 0) + 1
                if code == 200:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        start_time, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed, cpu = time.perf_counter() - start_time, time.process_time() - cpu0
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    total = len(latencies) + errors
    return {"concurrency": concurrency, "requests": total, "errors": errors,
            "rps": len(latencies) / elapsed, "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)), "p99_ms": float(np.percentile(ms, 99)),
            "client_cpu_ms": cpu / max(total, 1) * 1000,
            "statuses": {str(k): v for k, v in statuses.items()}}


def scratch_store(prefix: str) -> tuple[Path, str]:
    """A fresh folder to work in, with its own MLflow store (for this process and the
    servers it starts), so a benchmark never touches the user's runs or registry."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    store = f"sqlite:///{workdir / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = store
    os.chdir(workdir)
    return workdir, store


def bentoml_command() -> list[str]:
    return [sys.executable, "-m", "bentoml", "serve", "service.service:Forecaster",
            "--host", "127.0.0.1"]


def bentoml_env(alias: str, workers: int, workdir: Path, **settings: str) -> dict:
    """The service's environment for the model registered as `bench-<alias>`; `settings`
    are further FORECAST_* variables (batch size, threads) for a sweep."""
    return {"FORECAST_MODEL_ALIAS": f"bench-{alias}", "FORECAST_WORKERS": str(workers),
            "FORECAST_CACHE_DIR": str(workdir / "cache"), **settings}


def measure(cmd: list[str], path: str, body: dict, env: dict, probe: str, levels: list[int],
            seconds: float, log: Path, labels: dict) -> list[dict]:
    """Start one server on a free port, check one request, load it at each concurrency in
    turn, stop it: one row per level, `labels` added to each."""
    port = free_port()
    proc = start([*cmd, "--port", str(port)], log, env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        wait_http(base + probe, timeout=180, proc=proc)  # /readyz: 503 until loaded
        check = httpx.post(base + path, json=body, timeout=60)
        assert check.status_code == 200, check.text[:500]
        encoded = json.dumps(body).encode()
        for level in levels:
            result = uvloop.run(load(base + path, encoded, level, seconds))
            rows.append({**labels, **result})
            print(json.dumps(rows[-1]), flush=True)
    finally:
        stop(proc)
    return rows


def forward_floor(alias: str, history, ahead, repeats: int = 30) -> dict:
    import mlflow

    from pipelines.registry import download_model_dir

    model = Predictor.load(download_model_dir(f"models:/forecaster@bench-{alias}"))
    torch.set_num_threads(2)
    future = ahead.drop(columns=["y"])
    items = list(series_inputs(model, history, future))
    out = {}
    for batch in (1, 64):
        many = items * batch
        model.predict_series(many)
        t0 = time.perf_counter()
        for _ in range(repeats):
            model.predict_series(many)
        out[f"forward_batch{batch}_ms"] = (time.perf_counter() - t0) / repeats * 1000
    mlflow.end_run()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--models", nargs="*", default=["transformer", "lstm"])
    parser.add_argument("--levels", nargs="*", type=int, default=list(LEVELS))
    parser.add_argument("--workers", nargs="*", type=int, default=[1, 2],
                        help="FORECAST_WORKERS settings of the BentoML service to measure")
    parser.add_argument("--copies", nargs="*", type=int, default=[],
                        help="the transformer also at these numbers of copies (model.copies)")
    args = parser.parse_args()
    workdir, store = scratch_store("serve-bench-")
    bento_body, pyfunc_body, history, ahead = request_frames()
    rows = []
    variants = [(name, None) for name in args.models]
    variants += [("transformer", n) for n in args.copies]
    for name, copies_asked in variants:
        alias = name if copies_asked is None else f"{name}-c{copies_asked}"
        version, copies = register(name, workdir, copies_asked, alias)
        floor = forward_floor(alias, history, ahead)
        print(f"{alias} v{version}, {copies} copies: {floor}", flush=True)
        servers = {
            f"bentoml-w{w}": (bentoml_command(), "/predict", bento_body,
                              bentoml_env(alias, w, workdir), "/readyz")
            for w in args.workers
        }
        servers["mlflow"] = ([str(Path(sys.executable).with_name("mlflow")), "models", "serve",
                              "-m", f"models:/forecaster@bench-{alias}", "--env-manager", "local",
                              "--host", "127.0.0.1", "-w", "1"], "/invocations", pyfunc_body,
                             {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
                             "/ping")
        for server, (cmd, path, body, env, probe) in servers.items():
            rows += measure(cmd, path, body, {"MLFLOW_TRACKING_URI": store, **env}, probe,
                            args.levels, args.seconds, workdir / f"{server}-{alias}.log",
                            {"model": name, "copies": copies,
                             "copies_default": copies_asked is None, "server": server, **floor})
    save_results("serve_load", rows, markdown(rows))
    print(markdown(rows))


def markdown(rows: list[dict]) -> str:
    lines = ["| model | copies | server | concurrency | req/s | p50 ms | p95 ms | p99 ms | errors "
             "| client CPU ms/request |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r.get('copies', '')} | {r['server']} | "
                     f"{r['concurrency']} | {r['rps']:.0f} | "
                     f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{r['errors']} | {r['client_cpu_ms']:.2f} |")
    lines.append("")
    for model, copies in dict.fromkeys((r["model"], r.get("copies")) for r in rows):
        same = [r for r in rows if r["model"] == model and r.get("copies") == copies]
        lines.append(f"- `{model}`, {copies} copies, in-process forward: batch 1 "
                     f"{same[0]['forward_batch1_ms']:.2f} ms, "
                     f"batch 64 {same[0]['forward_batch64_ms']:.2f} ms")
        for level in sorted({r["concurrency"] for r in rows}):
            pair = {r["server"]: r for r in same if r["concurrency"] == level}
            for server in sorted(k for k in pair if k.startswith("bentoml")):
                if "mlflow" in pair and pair["mlflow"]["rps"] > 0:
                    lines.append(f"  - concurrency {level}: {server}/mlflow throughput ratio "
                                 f"{pair[server]['rps'] / pair['mlflow']['rps']:.2f}x")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
