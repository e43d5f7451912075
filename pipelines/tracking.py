"""Where runs go: MLFLOW_TRACKING_URI, or an embedded sqlite store in the working directory."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import httpx
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from forecast.errors import ForecastError

from .redaction import redact

EMBEDDED_DB = "mlflow.db"
EMBEDDED_ARTIFACTS = "mlartifacts"

# fail fast instead of MLflow's default minutes of retries when a server is down
CLI_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
DEFAULTED = tuple(k for k in CLI_DEFAULTS if k not in os.environ)  # set here, not by the user
for _key in DEFAULTED:
    os.environ[_key] = CLI_DEFAULTS[_key]

# mlflow.set_tracking_uri/set_registry_uri export these; a child must not inherit a stale one
TRACKING_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def child_env(env: dict | None = None) -> dict[str, str]:
    """The user's environment for a child process: this process's, minus the tracking URIs and
    the defaults this module set, plus `env`."""
    dropped = {*TRACKING_VARIABLES, *DEFAULTED}
    inherited = {k: v for k, v in os.environ.items() if k not in dropped}
    return {**inherited, **(env or {})}


class TrackingUnavailableError(ForecastError):
    """The tracking server cannot be reached."""


# `make demo` writes its MLflow server's URL here while it runs, so commands run from the same
# folder log to the UI it opened; `make stop` removes it
DEMO_URI_FILE = Path(".forecast") / "tracking_uri"


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI; else the running demo's server (DEMO_URI_FILE); else the embedded
    store in this folder."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    if DEMO_URI_FILE.is_file() and DEMO_URI_FILE.read_text().strip():
        return DEMO_URI_FILE.read_text().strip()
    return f"sqlite:///{Path.cwd() / EMBEDDED_DB}"


def embedded_artifact_root() -> str:
    return (Path.cwd() / EMBEDDED_ARTIFACTS).as_uri()


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail within seconds, naming the URI, before any training starts."""
    if urlparse(uri).scheme not in ("http", "https"):
        return
    try:
        response = httpx.get(uri.rstrip("/") + "/health", timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as err:
        from_demo = "MLFLOW_TRACKING_URI" not in os.environ and DEMO_URI_FILE.is_file()
        where = (f"named by {DEMO_URI_FILE} (written by `make demo`; `make stop` removes it)"
                 if from_demo else "")
        raise TrackingUnavailableError(redact(
            f"MLflow tracking server at {uri} {where} is unreachable ({type(err).__name__}: "
            f"{err}); start it or point MLFLOW_TRACKING_URI elsewhere".replace("  ", " ")
        )) from None


def connect() -> MlflowClient:
    uri = tracking_uri()
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri, uri)


def already_exists(err: MlflowException) -> bool:
    """True when another process created the same name between our check and our create."""
    return err.error_code == "RESOURCE_ALREADY_EXISTS"


# MLflow 3's UI opens an experiment on the GenAI overview unless its kind says otherwise
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The id of experiment `name`, created on first use (of the kind that opens on its
    training runs); safe when workers start together."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if EXPERIMENT_KIND[0] not in experiment.tags:  # made by an older version
            client.set_experiment_tag(experiment.experiment_id, *EXPERIMENT_KIND)
        return experiment.experiment_id
    location = embedded_artifact_root() if tracking_uri().startswith("sqlite") else None
    try:
        return client.create_experiment(name, artifact_location=location,
                                        tags=dict([EXPERIMENT_KIND]))
    except MlflowException as err:
        if not already_exists(err):
            raise
    return client.get_experiment_by_name(name).experiment_id
