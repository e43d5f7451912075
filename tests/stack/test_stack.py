"""The docker-compose topology as plain processes: PostgreSQL, an S3 server (moto standing in
for MinIO), `mlflow server` on both, the trainer's command, then the service's command.

Commands and environment come from docker-compose.yml itself, with host names and ports
rewritten to free localhost ports.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import boto3
import httpx
import psycopg
import pytest
import yaml

from pipelines.tracking import child_env
from tests.servers import BIN, free_port, start, stop, wait_http
from tests.stack.compose import load_compose

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "forecast-stack-test"
API_KEY = "stack-api-key"
MLFLOW_PASSWORD = "stack-mlflow-pw"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "stack", "AWS_SECRET_ACCESS_KEY": "stack-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def as_postgres_user(cmd: list[str]) -> list[str]:
    """initdb refuses root; run the server as the Debian package's `postgres` user."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="module")
def postgres():
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (scripts/ensure-postgres.sh installs them)")
    data = Path(tempfile.mkdtemp(prefix="forecast-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a 'postgres' user to run the server as")
        os.chown(data, user.pw_uid, user.pw_gid)
    port = free_port()
    subprocess.run(as_postgres_user([str(bindir / "initdb"), "-D", str(data / "db"), "-U",
                                     "postgres", "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)
    proc = start(as_postgres_user([str(bindir / "postgres"), "-D", str(data / "db"), "-p",
                                   str(port), "-h", "127.0.0.1", "-k", str(data)]),
                 Path(tempfile.gettempdir()) / f"forecast-pg-{port}.log")
    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(host="127.0.0.1", port=port, user="postgres",
                            dbname="postgres").close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                         autocommit=True) as connection:
        connection.execute("CREATE DATABASE mlflow")
    yield port
    stop(proc)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def s3():
    port = free_port()
    proc = start([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                 Path(tempfile.gettempdir()) / f"forecast-moto-{port}.log")
    url = f"http://127.0.0.1:{port}"
    wait_http(url, proc=proc)
    boto3.client("s3", endpoint_url=url, **_boto_credentials()).create_bucket(Bucket=BUCKET)
    yield url
    stop(proc)


def _boto_credentials() -> dict:
    return {"aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "region_name": CREDENTIALS["AWS_DEFAULT_REGION"]}


def localise(value, ports: dict[str, int]):
    """Rewrite compose host names and ports to this machine's free ports."""
    if isinstance(value, list):
        return [localise(v, ports) for v in value]
    if isinstance(value, dict):
        return {k: localise(v, ports) for k, v in value.items()}
    text = str(value)
    text = text.replace("postgres:5432", f"127.0.0.1:{ports['postgres']}")
    text = text.replace("http://minio:9000", f"http://127.0.0.1:{ports['s3']}")
    text = text.replace("http://mlflow:5000", f"http://127.0.0.1:{ports['mlflow']}")
    return text.replace("0.0.0.0", "127.0.0.1")


def with_port(command: list[str], port: int) -> list[str]:
    i = command.index("--port")
    return [*command[: i + 1], str(port), *command[i + 2:]]


def test_compose_topology_as_processes(postgres, s3, tmp_path):
    trainer_config = tmp_path / "stack.yaml"
    quick = yaml.safe_load((ROOT / "pipelines/configs/quick.yaml").read_text())
    quick["models"] = ["naive", "seasonal_naive", "transformer"]
    trainer_config.write_text(yaml.safe_dump(quick))
    env = {"POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "unused", "POSTGRES_DB": "mlflow",
           "MINIO_ROOT_USER": CREDENTIALS["AWS_ACCESS_KEY_ID"],
           "MINIO_ROOT_PASSWORD": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
           "MLFLOW_BUCKET": BUCKET, "FORECAST_API_KEY": API_KEY,
           "TRAINER_CONFIG": str(trainer_config), "MLFLOW_ADMIN_USERNAME": "stack-admin",
           "MLFLOW_ADMIN_PASSWORD": MLFLOW_PASSWORD, "MLFLOW_SECRET_KEY": "stack-flask-secret",
           "MLFLOW_ALLOWED_HOSTS": "localhost"}
    services = load_compose(env)["services"]
    ports = {"postgres": postgres, "s3": int(s3.rsplit(":", 1)[1])}
    ports["mlflow"] = free_port(avoid=ports.values())

    def environment(name: str) -> dict[str, str]:
        return {k: str(v) for k, v in localise(services[name].get("environment", {}),
                                                ports).items()}

    # the one-shot that creates the forecast log's database, as compose runs it (twice: it is
    # idempotent), with this machine's psql
    create_db = services["create-log-db"]
    for _ in range(2):
        made = subprocess.run(["/bin/sh", "-c", create_db["command"][0]], env={
            **os.environ, **environment("create-log-db"), "PGHOST": "127.0.0.1",
            "PGPORT": str(postgres), "PATH": f"{postgres_bin()}:{os.environ['PATH']}"},
            capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr

    mlflow_cmd = [str(BIN / "mlflow"), *localise(services["mlflow"]["command"], ports)]
    mlflow_proc = start(with_port(mlflow_cmd, ports["mlflow"]), tmp_path / "mlflow.log",
                        env={**environment("mlflow"), "AWS_DEFAULT_REGION": "us-east-1"},
                        cwd=tmp_path)  # the compose file's working_dir: basic_auth.db
    mlflow_url = f"http://127.0.0.1:{ports['mlflow']}"
    service_proc = None
    try:
        wait_http(mlflow_url + "/health", proc=mlflow_proc, timeout=120)
        # the tracking server is behind basic auth: nobody else registers or moves champion
        search = mlflow_url + "/api/2.0/mlflow/registered-models/search"
        assert httpx.get(search, timeout=10).status_code == 401
        assert httpx.get(search, auth=("stack-admin", "wrong"), timeout=10).status_code == 401
        assert httpx.get(search, auth=("stack-admin", MLFLOW_PASSWORD),
                         timeout=10).status_code == 200
        trainer = subprocess.run(
            [str(BIN / "forecast"), *localise(services["trainer"]["command"], ports)],
            env=child_env(environment("trainer")), cwd=tmp_path, capture_output=True,
            text=True, timeout=900)
        assert trainer.returncode == 0, trainer.stdout[-3000:] + trainer.stderr[-3000:]

        # chosen now, unlike the others: minutes of training hand out many local ports
        ports["service"] = free_port(avoid=ports.values())
        service_env = {**environment("service"), "FORECAST_CACHE_DIR": str(tmp_path / "cache")}
        service_cmd = with_port([str(BIN / "forecast"),
                                 *localise(services["service"]["command"], ports)],
                                ports["service"])
        service_proc = start(service_cmd, tmp_path / "service.log", env=service_env, cwd=ROOT)
        url = f"http://127.0.0.1:{ports['service']}"
        wait_http(url + "/livez", proc=service_proc, timeout=180)
        deadline = time.monotonic() + 120  # the service loads the champion from S3
        while httpx.get(url + "/readyz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, (tmp_path / "service.log").read_text()[-3000:]
            time.sleep(1)

        # the README's request example, as a user pastes it: the file, posted as bytes
        body = (ROOT / "examples" / "request.json").read_bytes()
        json_body = {"content": body, "headers": {"content-type": "application/json"}}
        assert httpx.post(url + "/predict", timeout=60, **json_body).status_code == 401
        response = httpx.post(url + "/predict", content=body, timeout=60, headers={
            "Authorization": f"Bearer {API_KEY}", "content-type": "application/json"})
        assert response.status_code == 200, response.text
        logs = (tmp_path / "service.log").read_text() + trainer.stdout + trainer.stderr
        assert MLFLOW_PASSWORD not in logs
        assert len(response.json()["forecasts"][0]["mean"]) == 48

        # the forecast log on PostgreSQL: the answer logged, the README's actuals example
        # (what happened on the forecast day) matched and scored
        forecast = response.json()["forecasts"][0]
        actuals = json.loads((ROOT / "examples" / "actuals.json").read_text())
        deadline = time.monotonic() + 30
        while True:
            answer = httpx.post(url + "/actuals", json=actuals, timeout=60,
                                headers={"Authorization": f"Bearer {API_KEY}"})
            assert answer.status_code == 200, answer.text
            if answer.json()["matched"] == 48 or time.monotonic() > deadline:
                break
            time.sleep(0.5)  # the log is written off the request path
        assert answer.json() == {"received": 48, "matched": 48, "unmatched": 0}
        report = httpx.get(url + "/monitoring", timeout=60,
                           headers={"Authorization": f"Bearer {API_KEY}"}).json()
        errors = [abs(m - a) for m, a in zip(forecast["mean"], actuals["series"][0]["y"],
                                             strict=True)]
        assert report["versions"][0]["live"]["mae"] == pytest.approx(sum(errors) / 48, rel=1e-4)
        assert report["log"]["available"] and "postgresql" in report["log"]["url"]
        assert MLFLOW_PASSWORD not in str(report) and "unused" not in str(report)
        with psycopg.connect(host="127.0.0.1", port=postgres, user="postgres",
                             dbname="forecast_log") as connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*), sum(length(median)) FROM forecast_log")
            assert cursor.fetchone() == (1, 48 * 8)  # one series forecast, 48 float64 steps

        # artifacts went to the S3 store, runs and the registry to PostgreSQL
        objects = boto3.client("s3", endpoint_url=s3, **_boto_credentials()).list_objects_v2(
            Bucket=BUCKET)
        keys = [o["Key"] for o in objects.get("Contents", [])]
        assert any(k.endswith("model.safetensors") for k in keys), keys[:20]
        assert any(k.endswith("comparison.png") for k in keys)
        with psycopg.connect(host="127.0.0.1", port=postgres, user="postgres",
                             dbname="mlflow") as connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM runs WHERE status = 'FINISHED'")
            assert cursor.fetchone()[0] >= 4  # parent + three children
            cursor.execute("SELECT name, alias FROM registered_model_aliases")
            assert ("forecaster", "champion") in cursor.fetchall()
    finally:
        if service_proc is not None:
            stop(service_proc)
        stop(mlflow_proc)
