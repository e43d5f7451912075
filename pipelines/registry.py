"""The MLflow model registry in one place: find the version behind an alias, download it,
register a version, move an alias, list versions.

Used by the pipelines, the service, the benchmarks and the tests; it imports no training
code, so the service can use it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from forecast.artifacts import find_artifact
from forecast.errors import ForecastError

from .tracking import already_exists

# what the registry answers for a model or alias that does not exist (anything else, such as
# an unreachable server, is raised)
_ABSENT = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}


def registry_client() -> MlflowClient:
    return MlflowClient(mlflow.get_tracking_uri(), mlflow.get_registry_uri())


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version `name@alias` points to; None when the model or the alias does not exist."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        if err.error_code in _ABSENT:
            return None
        raise


def download_model_dir(model_uri: str, destination: Path | None = None) -> Path:
    """Download a registered model (`models:/name/3`, `models:/name@alias`) and return the
    forecast model directory inside it."""
    target = destination or Path(tempfile.mkdtemp(prefix="forecast-model-"))
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri,
                                                     dst_path=str(target)))
    return find_artifact(local, model_uri)


def register_version(client: MlflowClient, name: str, model_uri: str, run_id: str,
                     model_id: str | None = None, tags: dict[str, str] | None = None) -> str:
    """A new version of `name` (created on first use) for a logged model; returns its number."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(
                name, description="forecast models; the alias marks the one served")
        except MlflowException as err:  # a concurrent registration created it first
            if not already_exists(err):
                raise
    version = client.create_model_version(name, model_uri, run_id=run_id, model_id=model_id,
                                         tags=tags).version
    return str(version)


def set_alias(client: MlflowClient, name: str, alias: str, version: str,
              decision: str | None = None) -> None:
    """Point `name@alias` at `version` (which must exist); `decision` is tagged on it."""
    try:
        client.get_model_version(name, version)
    except MlflowException:
        raise ForecastError(f"registered model '{name}' has no version {version}; "
                            "see `forecast models`") from None
    client.set_registered_model_alias(name, alias, version)
    if decision:
        client.set_model_version_tag(name, version, "promotion.decision", decision)


def list_versions(client: MlflowClient, name: str) -> list[dict]:
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return []
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for v in client.search_model_versions(f"name='{name}'"):
        rows.append({"version": v.version, "aliases": ",".join(aliases.get(str(v.version), [])),
                     "run_id": v.run_id, "architecture": v.tags.get("architecture", ""),
                     "score": v.tags.get("promotion.challenger_score", ""),
                     "decision": v.tags.get("promotion.decision", "")})
    return sorted(rows, key=lambda r: int(r["version"]))
