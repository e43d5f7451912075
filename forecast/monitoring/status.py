"""A status that says when to act, from a documented rule, and input drift per series.

    insufficient data  fewer than `min_points` scored forecast points in the window
    degraded           live MAE > test MAE x (1 + mae_tolerance), or the 80% interval's live
                       coverage outside 0.80 +- coverage_band
    ok                 otherwise

Drift compares each series' recent actuals with the training statistics its scaler holds:
level shift in training standard deviations, and spread as a ratio of standard deviations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

OK, DEGRADED, INSUFFICIENT = "ok", "degraded", "insufficient data"
NOMINAL_80 = 0.8


@dataclass(frozen=True)
class StatusRule:
    mae_tolerance: float = 0.25  # live MAE may exceed the test MAE by 25%
    coverage_band: float = 0.10  # the 80% interval may cover 70%..90% of actuals
    min_points: int = 96  # scored points (series x steps) before any verdict
    drift_level: float = 1.0  # |level shift| in training standard deviations
    drift_spread: float = 2.0  # spread ratio above this, or below its inverse

    @classmethod
    def from_env(cls) -> StatusRule:
        """FORECAST_STATUS_MAE_TOLERANCE, _COVERAGE_BAND, _MIN_POINTS: the same rule for the
        service and the CLI."""
        import os

        default = cls()
        return cls(
            mae_tolerance=float(os.environ.get("FORECAST_STATUS_MAE_TOLERANCE",
                                               default.mae_tolerance)),
            coverage_band=float(os.environ.get("FORECAST_STATUS_COVERAGE_BAND",
                                               default.coverage_band)),
            min_points=int(os.environ.get("FORECAST_STATUS_MIN_POINTS", default.min_points)))

    def describe(self) -> str:
        return (f"degraded when live MAE > test MAE x {1 + self.mae_tolerance:g} or 80% "
                f"coverage outside {NOMINAL_80 - self.coverage_band:.2f}..."
                f"{NOMINAL_80 + self.coverage_band:.2f}, over at least {self.min_points} "
                "scored points")


def monitoring_status(overall: dict[str, float], test_mae: float | None, rule: StatusRule
                      ) -> tuple[str, list[str]]:
    """(status, reasons) for one version's live scores against its test MAE."""
    n = int(overall.get("n", 0))
    if n < rule.min_points:
        return INSUFFICIENT, [f"{n} scored points, {rule.min_points} needed"]
    reasons = []
    if test_mae and overall["mae"] > test_mae * (1 + rule.mae_tolerance):
        reasons.append(f"live MAE {overall['mae']:.4g} > test MAE {test_mae:.4g} x "
                       f"{1 + rule.mae_tolerance:g}")
    coverage = overall.get("coverage_80")
    if coverage is not None and abs(coverage - NOMINAL_80) > rule.coverage_band:
        reasons.append(f"80% interval covered {coverage:.2f} of actuals (band "
                       f"{NOMINAL_80 - rule.coverage_band:.2f}..."
                       f"{NOMINAL_80 + rule.coverage_band:.2f})")
    return (DEGRADED, reasons) if reasons else (OK, [])


def drift_by_series(actuals: pd.DataFrame, rule: StatusRule) -> pd.DataFrame:
    """Per series: recent level and spread against training (`actuals` has unique_id, y,
    train_mean, scale: the rows of the scored window)."""
    rows = []
    for uid, group in actuals.groupby("unique_id", sort=True):
        train_std = float(group["scale"].iloc[-1]) or 1.0
        level = (float(group["y"].mean()) - float(group["train_mean"].iloc[-1])) / train_std
        spread = float(group["y"].std(ddof=0)) / train_std if len(group) > 1 else np.nan
        drifted = abs(level) > rule.drift_level or (
            np.isfinite(spread) and not 1 / rule.drift_spread <= spread <= rule.drift_spread)
        rows.append({"unique_id": uid, "level_shift_sd": level, "spread_ratio": spread,
                     "drifted": bool(drifted), "points": len(group)})
    return pd.DataFrame(rows)


@dataclass
class Assessment:
    """One model version's verdict over a window: live scores, status and drift."""

    scores: object  # LiveScores
    status: str
    reasons: list[str]
    drift: pd.DataFrame


def assess(window: pd.DataFrame, test_mae: float | None, rule: StatusRule) -> Assessment:
    """Scores, status and drift of one version's scored forecasts in the window: what
    GET /monitoring and `forecast monitor` both report."""
    from .scores import live_scores

    scores = live_scores(window)
    status, reasons = monitoring_status(scores.overall, test_mae, rule)
    drift = drift_by_series(window, rule) if len(window) else pd.DataFrame()
    return Assessment(scores, status, reasons, drift)
