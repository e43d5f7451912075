"""Registered versions and the `champion` alias: register, gate, promote, list."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from forecast import Forecaster
from forecast.artifacts import find_artifact
from forecast.datamodule import PreparedData
from forecast.errors import ForecastError
from forecast.forecaster import evaluate_on


@dataclass
class PromotionDecision:
    version: str
    promoted: bool
    reason: str
    challenger_score: float
    champion_score: float | None
    champion_version: str | None


def champion_version(client: MlflowClient, name: str, alias: str):
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def download_model_dir(model_uri: str, destination: Path | None = None) -> Path:
    """Download a registered pyfunc model and return the forecast model directory inside it."""
    target = destination or Path(tempfile.mkdtemp(prefix="forecast-model-"))
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri,
                                                     dst_path=str(target)))
    return find_artifact(local, model_uri)


def score_champion(client: MlflowClient, name: str, alias: str, prepared: PreparedData,
                   metric: str) -> tuple[str | None, float | None]:
    current = champion_version(client, name, alias)
    if current is None:
        return None, None
    model = Forecaster.load(download_model_dir(f"models:/{name}/{current.version}"))
    return current.version, evaluate_on(model, prepared)[metric]


def register_and_gate(client: MlflowClient, model_uri: str, model_id: str, run_id: str, name: str,
                      alias: str, metric: str, challenger_score: float,
                      prepared: PreparedData, extra_tags: dict[str, str] | None = None
                      ) -> PromotionDecision:
    """New version; the alias moves only if it beats the champion on the same test window."""
    champion, champion_score = score_champion(client, name, alias, prepared, metric)
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="forecast models; alias marks the one served")
    version = client.create_model_version(name, model_uri, run_id=run_id,
                                         model_id=model_id).version
    if champion_score is None:
        promoted, reason = True, f"no current {alias}"
    elif challenger_score < champion_score:
        promoted, reason = True, (f"test {metric} {challenger_score:.4f} beats {alias} v{champion} "
                                  f"({champion_score:.4f}) on the same test window")
    else:
        promoted, reason = False, (f"test {metric} {challenger_score:.4f} does not beat {alias} "
                                   f"v{champion} ({champion_score:.4f})")
    tags = {
        "promotion.decision": "promoted" if promoted else "kept_champion",
        "promotion.reason": reason,
        "promotion.metric": metric,
        "promotion.challenger_score": f"{challenger_score:.6f}",
        "promotion.champion_score": "none" if champion_score is None else f"{champion_score:.6f}",
        "promotion.champion_version": champion or "none",
        **(extra_tags or {}),
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if promoted:
        client.set_registered_model_alias(name, alias, version)
    return PromotionDecision(version, promoted, reason, challenger_score, champion_score, champion)


def promote(client: MlflowClient, name: str, alias: str, version: str) -> None:
    try:
        client.get_model_version(name, version)
    except MlflowException:
        raise ForecastError(f"registered model '{name}' has no version {version}; "
                            "see `forecast models`") from None
    client.set_registered_model_alias(name, alias, version)
    client.set_model_version_tag(name, version, "promotion.decision", "promoted_by_hand")


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
