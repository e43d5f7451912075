"""Start and stop real servers (mlflow server, bentoml serve) on free localhost ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection
from contextlib import contextmanager
from pathlib import Path

import httpx

from pipelines.tracking import child_env

BIN = Path(sys.executable).parent


def free_port(avoid: Collection[int] = ()) -> int:
    """A port free now and not among `avoid` (ports already handed to servers not yet
    listening: the kernel may hand a just-released port out again)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port


def wait_http(url: str, timeout: float = 90.0, proc: subprocess.Popen | None = None,
              interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(interval)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop(proc: subprocess.Popen) -> None:
    """Stop the whole process group (servers fork workers)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def start(cmd: list[str], log: Path, env: dict | None = None, cwd: Path | None = None
          ) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env=child_env(env), cwd=cwd, start_new_session=True)


def mlflow_server_cmd(store: Path, port: int) -> list[str]:
    return [str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
            "--artifacts-destination", str(store / "artifacts"), "--serve-artifacts",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]


@contextmanager
def mlflow_server(store: Path, port: int | None = None):
    """A real tracking server with sqlite backend and local artifact store; yields its URI."""
    store.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    proc = start(mlflow_server_cmd(store, port), store / f"mlflow-{port}.log")
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{uri}/health", proc=proc)
        yield uri, proc
    finally:
        stop(proc)


def bentoml_serve_cmd(port: int) -> list[str]:
    return [str(BIN / "bentoml"), "serve", "service.service:Forecaster", "--host", "127.0.0.1",
            "--port", str(port)]


@contextmanager
def bento_server(env: dict, log: Path, cwd: Path | None = None, ready: bool = True):
    """A real `bentoml serve` of the service; waits for /readyz (or /livez when not `ready`)."""
    port = free_port()
    # each server its own BENTOML_HOME, as each container has: `bentoml serve` empties the
    # shared $BENTOML_HOME/prometheus_multiproc_dir when it starts, and a server already
    # running there loses its metrics from /metrics
    home = log.parent / f"bentoml-home-{port}"
    env = {"BENTOML_HOME": str(home), **env}
    proc = start(bentoml_serve_cmd(port), log, env=env, cwd=cwd or Path(__file__).parents[1])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/livez", proc=proc, timeout=120)
        if ready:
            deadline = time.monotonic() + 60
            while httpx.get(f"{url}/readyz", timeout=5).status_code != 200:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} never became ready; see {log}")
                time.sleep(0.5)
        yield url
    finally:
        stop(proc)
