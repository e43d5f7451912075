"""Champion gating: a new version takes the alias only if it beats the champion on the same
test window (point accuracy first; an interval score breaks ties)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mlflow import MlflowClient

from forecast import load_model
from forecast.config import TrackingSettings
from forecast.datamodule import PreparedData
from forecast.evaluation import evaluate
from forecast.predictor import ServedModel

from .registry import download_model_dir, register_version, set_alias, version_by_alias


@dataclass
class PromotionDecision:
    version: str | None  # None until the challenger is registered
    promoted: bool
    reason: str
    challenger_score: float
    champion_score: float | None
    champion_version: str | None

    def tags(self, rule: GatingRule) -> dict[str, str]:
        """What the registry records on the version: why it was or was not promoted."""
        return {
            "promotion.decision": "promoted" if self.promoted else "kept_champion",
            "promotion.reason": self.reason,
            "promotion.metric": rule.metric,
            "promotion.tie_metric": rule.tie_metric,
            "promotion.challenger_score": f"{self.challenger_score:.6f}",
            "promotion.champion_score": ("none" if self.champion_score is None
                                         else f"{self.champion_score:.6f}"),
            "promotion.champion_version": self.champion_version or "none",
        }


@dataclass(frozen=True)
class GatingRule:
    """Point accuracy (`metric`) decides; within `tie_tolerance` (relative) of the champion
    it is a tie, and `tie_metric` (an interval score, lower is better) decides instead."""

    metric: str = "mae"
    tie_metric: str = "wql"  # or "crps"; "none" = a tie keeps the champion
    tie_tolerance: float = 0.005

    @classmethod
    def of(cls, tracking: TrackingSettings) -> GatingRule:
        return cls(tracking.metric, tracking.tie_metric, tracking.tie_tolerance)

    def decide(self, challenger: dict[str, float], champion: dict[str, float], alias: str,
               version: str) -> tuple[bool, str]:
        """Whether the challenger takes the alias, and why (stored as a version tag)."""
        new, old = challenger[self.metric], champion[self.metric]
        if abs(new - old) > self.tie_tolerance * abs(old):
            verb = "beats" if new < old else "does not beat"
            return new < old, (f"test {self.metric} {new:.4f} {verb} {alias} v{version} "
                               f"({old:.4f}) on the same test window")
        tie = f"test {self.metric} {new:.4f} ties {alias} v{version} ({old:.4f})"
        if self.tie_metric == "none" or self.tie_metric not in challenger \
                or self.tie_metric not in champion:
            return False, f"{tie}; no interval score to break the tie, {alias} kept"
        new_tie, old_tie = challenger[self.tie_metric], champion[self.tie_metric]
        verb = "beats" if new_tie < old_tie else "does not beat"
        return new_tie < old_tie, (f"{tie}; its {self.tie_metric} {new_tie:.4f} {verb} "
                                   f"{old_tie:.4f}")


class ChampionNotComparable(Exception):
    """The champion was trained for other data: no test window of this data can score it."""

    def __init__(self, version: str, why: str):
        self.version, self.why = version, why
        super().__init__(why)


def not_comparable(champion: ServedModel, prepared: PreparedData) -> str | None:
    """Why the champion cannot be scored on the challenger's test windows (another
    frequency or horizon, columns this data lacks, a lookback longer than the history
    before its test part); None when it can."""
    spec, data = champion.spec, prepared.panel.spec
    if spec.freq != data.freq:
        return f"its frequency is '{spec.freq}', this data's '{data.freq}'"
    horizon = prepared.settings.horizon if prepared.settings else champion.horizon
    if champion.horizon != horizon:
        return f"its horizon is {champion.horizon} steps, this data's {horizon}"
    needed = [*spec.covariates, *spec.static_covariates]
    available = (list(prepared.frame.columns) if prepared.frame is not None
                 else [*data.covariates, *data.static_covariates])
    missing = [c for c in needed if c not in available]
    if missing:
        return f"it needs the columns {missing}, which this data has not"
    history = min(b.val_end for b in prepared.bounds)
    if champion.lookback > history:
        return (f"its lookback of {champion.lookback} steps is longer than the {history} "
                "before this data's test part")
    return None


def score_champion(client: MlflowClient, name: str, alias: str, prepared: PreparedData
                   ) -> tuple[str | None, dict[str, float] | None]:
    """The champion's version and its scores on the challenger's test windows;
    ChampionNotComparable when it was trained for other data."""
    current = version_by_alias(client, name, alias)
    if current is None:
        return None, None
    champion = load_model(download_model_dir(f"models:/{name}/{current.version}"))
    why = not_comparable(champion, prepared)
    if why is not None:
        raise ChampionNotComparable(current.version, why)
    return current.version, evaluate(champion, prepared)


def register_and_gate(client: MlflowClient, model_uri: str, model_id: str, run_id: str, name: str,
                      alias: str, rule: GatingRule, challenger: dict[str, float],
                      prepared: PreparedData, extra_tags: dict[str, str] | None = None
                      ) -> PromotionDecision:
    """New version; the alias moves only if it beats the champion on the same test window.

    Scoring the champion takes seconds, and another worker may move the alias meanwhile: a
    promotion is decided again against whichever version holds the alias just before it moves.
    """
    decision = gate(client, name, alias, rule, challenger, prepared)
    version = register_version(client, name, model_uri, run_id, model_id,
                               {**decision.tags(rule), **(extra_tags or {})})
    while decision.promoted and current_version(client, name, alias) != decision.champion_version:
        decision = gate(client, name, alias, rule, challenger, prepared)
        for key, value in decision.tags(rule).items():
            client.set_model_version_tag(name, version, key, value)
    if decision.promoted:
        set_alias(client, name, alias, version)
    return replace(decision, version=version)


def current_version(client: MlflowClient, name: str, alias: str) -> str | None:
    holder = version_by_alias(client, name, alias)
    return None if holder is None else holder.version


def gate(client: MlflowClient, name: str, alias: str, rule: GatingRule,
         challenger: dict[str, float], prepared: PreparedData) -> PromotionDecision:
    """The decision against the version holding `alias` now, before the challenger has one.
    A champion trained for other data keeps the alias: a model for another data set, or
    the wrong file, must not take over what the service answers without a person's say."""
    try:
        champion, champion_scores = score_champion(client, name, alias, prepared)
    except ChampionNotComparable as other:
        return PromotionDecision(
            None, False, f"{alias} v{other.version} was trained for other data ({other.why}): "
            f"not compared, {alias} kept; `forecast promote --version N` moves it, or "
            f"`--set tracking.registered_model=NAME` keeps a model per data set",
            challenger[rule.metric], None, other.version)
    if champion_scores is None:
        promoted, reason = True, f"no current {alias}"
    else:
        promoted, reason = rule.decide(challenger, champion_scores, alias, champion or "")
    return PromotionDecision(None, promoted, reason, challenger[rule.metric],
                             None if champion_scores is None else champion_scores[rule.metric],
                             champion)
