"""Champion gating: a new version takes the alias only if it beats the champion on the same
test window."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient

from forecast import Predictor
from forecast.datamodule import PreparedData
from forecast.evaluation import evaluate

from .registry import download_model_dir, register_version, set_alias, version_by_alias


@dataclass
class PromotionDecision:
    version: str
    promoted: bool
    reason: str
    challenger_score: float
    champion_score: float | None
    champion_version: str | None


def score_champion(client: MlflowClient, name: str, alias: str, prepared: PreparedData,
                   metric: str) -> tuple[str | None, float | None]:
    """The champion's version and its score on the challenger's test windows."""
    current = version_by_alias(client, name, alias)
    if current is None:
        return None, None
    champion = Predictor.load(download_model_dir(f"models:/{name}/{current.version}"))
    return current.version, evaluate(champion, prepared)[metric]


def register_and_gate(client: MlflowClient, model_uri: str, model_id: str, run_id: str, name: str,
                      alias: str, metric: str, challenger_score: float,
                      prepared: PreparedData, extra_tags: dict[str, str] | None = None
                      ) -> PromotionDecision:
    """New version; the alias moves only if it beats the champion on the same test window."""
    champion, champion_score = score_champion(client, name, alias, prepared, metric)
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
    version = register_version(client, name, model_uri, run_id, model_id, tags)
    if promoted:
        set_alias(client, name, alias, version)
    return PromotionDecision(version, promoted, reason, challenger_score, champion_score, champion)
