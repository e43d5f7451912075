"""`make demo`: compare models on vic_elec, promote the best, then leave MLflow and the service
running and send one real prediction for the last week of vic_elec.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from .cli import main as forecast_cli
from .client import vic_elec_request
from .tracking import DEMO_URI_FILE, EMBEDDED_ARTIFACTS, child_env, tracking_uri

console = Console()
STATE = Path(".forecast")
PIDS = STATE / "demo.pids"
BIN = Path(sys.executable).parent


def port_or_free(preferred: int) -> int:
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", preferred)) != 0:
            return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(command: list[str], log: Path, env: dict | None = None) -> int:
    # MLflow exported the embedded store's URIs into os.environ; children get only `env`'s
    proc = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env=child_env(env), start_new_session=True)
    with PIDS.open("a") as f:
        f.write(f"{proc.pid}\n")
    return proc.pid


def wait_for(url: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"{url} did not become ready; see the logs in {STATE}")


def stop_demo() -> None:
    if not PIDS.exists():
        console.print("nothing to stop")
        return
    for line in PIDS.read_text().split():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(line), signal.SIGTERM)
    PIDS.unlink()
    DEMO_URI_FILE.unlink(missing_ok=True)
    console.print("stopped the demo's mlflow server and service")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "stop":
        stop_demo()
        return 0
    STATE.mkdir(exist_ok=True)
    stop_demo() if PIDS.exists() else None
    config = os.environ.get("DEMO_CONFIG", "quick")
    console.rule(f"1/3 compare models on vic_elec (config: {config})")
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # the embedded store in this directory
    DEMO_URI_FILE.unlink(missing_ok=True)  # left by a demo that did not stop cleanly
    code = forecast_cli(["compare", "--config", config])
    if code:
        return code
    store = tracking_uri()

    console.rule("2/3 start mlflow server and the prediction service")
    mlflow_port, service_port = port_or_free(5000), port_or_free(3000)
    launch([str(BIN / "mlflow"), "server", "--backend-store-uri", store,
            "--default-artifact-root", str(Path.cwd() / EMBEDDED_ARTIFACTS),
            "--host", "127.0.0.1", "--port", str(mlflow_port), "--workers", "1"],
           STATE / "mlflow-server.log")
    mlflow_url = f"http://127.0.0.1:{mlflow_port}"
    wait_for(f"{mlflow_url}/health")
    DEMO_URI_FILE.write_text(mlflow_url + "\n")  # commands run here now log to this UI
    launch([str(BIN / "bentoml"), "serve", "service.service:Forecaster", "--host", "127.0.0.1",
            "--port", str(service_port)], STATE / "service.log",
           env={"MLFLOW_TRACKING_URI": mlflow_url})
    service_url = f"http://127.0.0.1:{service_port}"
    wait_for(f"{service_url}/readyz")

    console.rule("3/3 forecast the last day of vic_elec from the week before it")
    body, ahead = vic_elec_request()
    body.update(explain=True, top_k=336)  # every input step of the week before
    response = httpx.post(f"{service_url}/predict", json=body, timeout=60)
    response.raise_for_status()
    payload = response.json()
    forecast = payload["forecasts"][0]
    table = Table(title=f"{payload['model']['name']} v{payload['model']['version']} "
                        f"({payload['model']['architecture']}) - every 4th half-hour")
    quantiles = forecast.get("quantiles", {})
    lower, upper = quantiles.get("0.1"), quantiles.get("0.9")  # the central 80% interval
    interval = lower is not None and upper is not None
    columns = ("ds", "forecast MW", "80% interval MW", "actual MW") if interval else \
        ("ds", "forecast MW", "actual MW")
    for column in columns:
        table.add_column(column)
    for i in range(0, len(forecast["ds"]), 4):
        cells = [forecast["ds"][i], f"{forecast['mean'][i]:.0f}"]
        if interval:
            cells.append(f"{lower[i]:.0f} - {upper[i]:.0f}")
        table.add_row(*cells, f"{ahead['y'].iloc[i]:.0f}")
    console.print(table)
    mae = sum(abs(f - a) for f, a in zip(forecast["mean"], ahead["y"], strict=True)) / 48
    if interval:
        inside = sum(lo <= a <= hi for lo, hi, a in zip(lower, upper, ahead["y"], strict=True))
        calibrated = "calibrated" if payload["model"].get("calibrated") else "uncalibrated"
        console.print(f"{calibrated} 80% interval held {inside} of {len(lower)} actual "
                      "half-hours")
    console.print(f"MAE on this day: {mae:.0f} MW")
    print_explanation(forecast["explanation"], pd.Timestamp(forecast["ds"][0]))
    console.rule("running")
    console.print(f"MLflow UI:           {mlflow_url}")
    console.print(f"Prediction service:  {service_url}  (Swagger UI at /, POST /predict, "
                  "GET /model)")
    console.print(f"Your own runs:       forecast commands run in this folder log to this UI "
                  f"({DEMO_URI_FILE} says where);")
    console.print(f"                     from elsewhere: export MLFLOW_TRACKING_URI={mlflow_url}")
    console.print(f"Logs in {STATE}/. Stop both with: make stop")
    return 0


def share_per_day(explanation: dict, origin: pd.Timestamp) -> pd.Series:
    """The explanation's weight summed per day before the forecast (1 = the last 24 hours);
    a range (a patch) counts on the day it ends."""
    ds = pd.DatetimeIndex(explanation.get("end") or explanation["ds"])
    days_back = np.ceil((origin - ds) / pd.Timedelta(days=1)).astype(int)
    return pd.Series(explanation["weight"]).groupby(days_back).sum().sort_index()


def top_ranges(explanation: dict, n: int = 3) -> list[str]:
    """The input ranges (patches) or steps with the most weight, as day and hours."""
    ends = explanation.get("end") or explanation["ds"]
    out = []
    for start, end, weight in list(zip(explanation["ds"], ends, explanation["weight"],
                                       strict=True))[:n]:
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        if end == start:
            span = f"{start:%a %d %b %H:%M}"
        elif end.date() == start.date():
            span = f"{start:%a %d %b %H:%M}-{end:%H:%M}"
        else:
            span = f"{start:%a %d %b %H:%M} - {end:%a %H:%M}"
        out.append(f"{span} ({weight:.2f})")
    return out


def print_explanation(explanation: dict, origin: pd.Timestamp) -> None:
    """Which day and which hours mattered; a flat profile is said to be flat, not listed as
    if its first timestamps mattered."""
    shares = share_per_day(explanation, origin)
    method, grain = explanation["method"], explanation.get("grain", "step")
    console.print(f"what the forecast looked at ({method} per {grain}, share per day before "
                  "it): " + ", ".join(f"{d} d: {w:.2f}" for d, w in shares.items()))
    even = 1 / len(shares)
    if shares.max() < 1.25 * even:
        console.print(f"  the {method} is spread almost evenly over the week (largest daily "
                      f"share {shares.max():.2f}, even would be {even:.2f}): no day stands out")
    else:
        console.print(f"  most weight on the day {shares.idxmax()} d before the forecast "
                      f"({shares.max():.2f}, against {even:.2f} if spread evenly)")
    console.print(f"  the hours that mattered most: {'; '.join(top_ranges(explanation))}")


if __name__ == "__main__":
    sys.exit(main())
