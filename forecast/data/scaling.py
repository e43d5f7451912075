"""Per-series standard scaling, fit on the training part only and stored as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_MIN_STD = 1e-6


@dataclass
class SeriesStats:
    y_mean: float
    y_std: float
    x_mean: list[float]
    x_std: list[float]
    mase_scale: float = 1.0  # in-sample seasonal-naive MAE, the MASE denominator

    @classmethod
    def fit(cls, y: np.ndarray, x: np.ndarray, season: int) -> SeriesStats:
        """Statistics of one series' training part: y (T,), x (T, F)."""
        y_std = float(np.std(y)) if len(y) > 1 else 1.0
        x_std = np.std(x, axis=0) if len(x) > 1 else np.ones(x.shape[1])
        if len(y) > season:
            mase_scale = float(np.mean(np.abs(y[season:] - y[:-season])))
        else:
            mase_scale = float(np.mean(np.abs(np.diff(y)))) if len(y) > 1 else 1.0
        return cls(
            y_mean=float(np.mean(y)),
            y_std=max(y_std, _MIN_STD),
            x_mean=[float(v) for v in np.mean(x, axis=0)] if x.shape[1] else [],
            # a covariate constant in training (a holiday flag with no holiday in it) is only
            # centred: dividing by ~0 would turn its first change into a value of ~1e6
            x_std=[float(v) if v > _MIN_STD else 1.0 for v in x_std] if x.shape[1] else [],
            mase_scale=max(mase_scale, _MIN_STD),
        )


@dataclass
class SeriesScaler:
    """Scaling statistics per unique_id; unseen series are fit on the history they arrive with."""

    stats: dict[str, SeriesStats] = field(default_factory=dict)

    def scale_y(self, uid: str, y: np.ndarray) -> np.ndarray:
        s = self.stats[uid]
        return ((y - s.y_mean) / s.y_std).astype(np.float32)

    def scale_x(self, uid: str, x: np.ndarray) -> np.ndarray:
        s = self.stats[uid]
        if not s.x_mean:
            return x.astype(np.float32)
        return ((x - np.asarray(s.x_mean)) / np.asarray(s.x_std)).astype(np.float32)

    def to_json(self) -> dict:
        return {uid: vars(s) for uid, s in self.stats.items()}

    @classmethod
    def from_json(cls, payload: dict) -> SeriesScaler:
        return cls({uid: SeriesStats(**values) for uid, values in payload.items()})
