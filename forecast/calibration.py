"""From the network's raw output to the quantiles a model serves: offsets and non-crossing.

A quantile head is trained with the pinball loss, but nothing makes its 0.9 quantile fall
above 90% of new values. Conformal calibration measures, on windows the network was not
fitted on, how far each quantile must move (per horizon step, in the series' scaled units)
so that it does, and stores those offsets with the model:

- `conformal` on a quantile head is conformalised quantile regression, one-sided per
  quantile (the asymmetric form of Romano et al., 2019);
- `conformal` on a point head (and `empirical`, what baselines get from their training
  part) is residual conformal: each quantile is the point plus a residual quantile.

Offsets live in scaled units so one calibration fits every series of a panel. With
`scale: window` they are measured in units of each window's own spread instead (the standard
deviation of its lookback's target, in scaled units), and applied times the spread of the
window being forecast: an interval then widens when the series has become more volatile
since training, where offsets fixed in training units kept their width (and lost coverage).
With `median` (`model.calibrate_median`: the LSTM's, GRU's and MLP's default) the median moves
too, by the median of its errors on those windows per horizon step: a bias correction. A
network trained on a flat past under-forecasts a series that has since risen, on validation
and test alike; the correction measured on validation carries that knowledge to the
forecasts (docs/benchmarks.md, "Calibrating the median"). Without it the median stays the
network's. With `auto` (the Transformer's default) the median moves only when its bias is at
least half its error on those windows (`MEDIAN_BIAS_SHARE`): removing a bias that small a
share of the error gains little even when it carries over to new data (about 3% of the MAE
at a share of a quarter, for Laplace errors), while one that does not carry costs as much;
at a half the gain is over a tenth. Every calibration records the share it measured
(`median_bias`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from .errors import ArtifactError

Method = Literal["none", "conformal", "empirical"]
Base = Literal["quantiles", "point"]
Scale = Literal["series", "window"]
MedianMode = bool | Literal["auto"]  # model.calibrate_median, resolved
MIN_WINDOW_SCALE = 0.1  # of the series' training spread: a flat window keeps an interval
# `calibrate_median: auto` moves the median when |mean error| / mean |error| reaches this: the
# bias is then worth over a tenth of the MAE if it carries over (the module's docstring)
MEDIAN_BIAS_SHARE = 0.5


def window_scale(past_y: torch.Tensor) -> torch.Tensor:
    """(B,) spread of each lookback window's target (B, L), scaled units, floored."""
    return past_y.std(dim=1, correction=0).clamp(min=MIN_WINDOW_SCALE)


def conformal_rank(q: float, n: int) -> int:
    """The rank (1-based, in ascending order) of the calibration residual that bounds quantile
    `q` of a new one, split conformal's: ceil((n+1)q) above the median, floor((n+1)q) below,
    so each bound errs on the side of covering, by under 1/(n+1). Where that rank falls off
    the n residuals (an interval wider than n windows can measure), the extreme one."""
    rank = math.ceil((n + 1) * q) if q >= 0.5 else math.floor((n + 1) * q)
    return min(max(rank, 1), n)


def conformal_offsets(base: np.ndarray, actual: np.ndarray, quantiles: list[float],
                      median: bool = False) -> np.ndarray:
    """Offsets (H, Q) so that `base[..., j] + offset` holds `actual` below it a fraction
    `quantiles[j]` of the time on these windows. base (N, H, Q), actual (N, H), scaled.
    The median's offset is the median of its errors when `median`, else 0 (left alone)."""
    n = base.shape[0]
    residual = actual[..., None] - base  # (N, H, Q)
    ranked = np.sort(residual, axis=0)
    offsets = np.zeros(base.shape[1:], dtype=np.float64)
    for j, q in enumerate(quantiles):
        if q == 0.5:
            if median:
                offsets[:, j] = np.median(residual[..., j], axis=0)
            continue
        offsets[:, j] = ranked[conformal_rank(q, n) - 1, :, j]
    return offsets


def median_column(quantiles: list[float] | tuple[float, ...]) -> int | None:
    """The column calibration may move as the median: the 0.5 quantile's, if served (unlike
    `metrics.point_index`, no middle column stands in for it)."""
    return quantiles.index(0.5) if 0.5 in quantiles else None


def median_bias_share(base: np.ndarray, actual: np.ndarray, quantiles: list[float]
                      ) -> float | None:
    """|mean error| / mean |error| of the median column of base (N, H, Q) against actual
    (N, H): 0 when its errors balance, 1 when every one has the same sign; None without a
    median (or without errors to measure)."""
    column = median_column(quantiles)
    if column is None:
        return None
    residual = actual - base[..., column]
    spread = float(np.abs(residual).mean()) if residual.size else 0.0
    return abs(float(residual.mean())) / spread if spread > 0 else None


def moves_median(median: MedianMode, share: float | None) -> bool:
    """Whether calibration moves the median: as set, or (`auto`) when its bias share is large."""
    if median == "auto":
        return share is not None and share >= MEDIAN_BIAS_SHARE
    return bool(median)


def non_crossing(values: torch.Tensor) -> torch.Tensor:
    """Quantiles in ascending order along the last axis. Sorting (rearrangement) never
    raises the pinball loss, so it is applied in training and at inference alike."""
    return values if values.shape[-1] == 1 else values.sort(dim=-1).values


@dataclass(frozen=True)
class Calibration:
    """How raw network output (B, H, Qh), scaled, becomes the served quantiles (B, H, Q)."""

    method: Method
    base: Base  # what the network emits: the served quantiles, or one point column
    quantiles: tuple[float, ...]  # served levels; empty for a point model
    offsets: np.ndarray | None = None  # (H, Q) scaled units; None = no shift
    windows: int = 0  # how many windows the offsets were measured on
    split: str = ""  # which part of the data: "val" or "train"
    scale: Scale = "series"  # the unit of the offsets: the series' spread, or each window's
    median_bias: float | None = None  # the median's bias share on those windows (measured)

    @classmethod
    def identity(cls, quantiles: tuple[float, ...], point_head: bool,
                 scale: Scale = "series") -> Calibration:
        return cls("none", "point" if point_head else "quantiles", tuple(quantiles),
                   scale=scale)

    @property
    def calibrated(self) -> bool:
        """Whether coverage was measured and corrected out of sample (not just assumed)."""
        return self.method == "conformal"

    @property
    def median_moved(self) -> bool:
        """Whether the offsets move the median (`model.calibrate_median`, as it resolved)."""
        column = median_column(self.quantiles)
        if self.offsets is None or column is None:
            return False
        return bool(np.any(self.offsets[:, column] != 0))

    def broadcast(self, raw: torch.Tensor) -> torch.Tensor:
        """The uncalibrated quantiles: the head's own (sorted), or the point in every column."""
        if self.base == "point":
            return raw[..., :1].expand(*raw.shape[:-1], max(len(self.quantiles), 1))
        return non_crossing(raw)

    def apply(self, raw: torch.Tensor, past_y: torch.Tensor | None = None) -> torch.Tensor:
        """Raw (B, H', Qh) with H' <= H -> served (B, H', Q), ascending, same scaled units.
        `past_y` (B, L): the windows' scaled target, which `scale: window` needs."""
        base = self.broadcast(raw)
        if self.offsets is None:
            return base
        shift = torch.as_tensor(self.offsets[: raw.shape[1]], dtype=raw.dtype)
        if self.scale == "window":
            if past_y is None:
                raise ValueError("window-scaled calibration needs the windows' past target")
            shift = shift * window_scale(past_y).to(raw.dtype)[:, None, None]
        return non_crossing(base + shift)

    def fitted(self, method: Method, base: np.ndarray, actual: np.ndarray, split: str,
               scales: np.ndarray | None = None, median: MedianMode = False) -> Calibration:
        """This calibration with offsets measured on windows of `split`; base from
        `broadcast`, (N, H, Q), and actual (N, H), both scaled; `scales` (N,), from
        `window_scale`, when the offsets are in units of each window's spread; `median`:
        the median moves too (by its median error there), or `auto`: when its bias share
        there reaches MEDIAN_BIAS_SHARE."""
        if self.scale == "window":
            if scales is None:
                raise ValueError("window-scaled calibration needs each window's scale")
            base, actual = base / scales[:, None, None], actual / scales[:, None]
        share = median_bias_share(base, actual, list(self.quantiles))
        offsets = conformal_offsets(base, actual, list(self.quantiles),
                                    moves_median(median, share))
        return Calibration(method, self.base, self.quantiles, offsets, int(base.shape[0]),
                           split, self.scale, share)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "base": self.base, "quantiles": list(self.quantiles),
                "offsets": None if self.offsets is None else self.offsets.tolist(),
                "windows": self.windows, "split": self.split, "scale": self.scale,
                "median_bias": self.median_bias}

    @classmethod
    def from_json(cls, payload: dict[str, Any], horizon: int) -> Calibration:
        offsets = payload.get("offsets")
        quantiles = tuple(float(q) for q in payload["quantiles"])
        if payload.get("method") not in ("none", "conformal", "empirical") or \
                payload.get("base") not in ("quantiles", "point") or \
                payload.get("scale", "series") not in ("series", "window"):
            raise ArtifactError(f"calibration method/base/scale {payload.get('method')!r}/"
                                f"{payload.get('base')!r}/{payload.get('scale')!r} is not known")
        if offsets is not None:
            offsets = np.asarray(offsets, dtype=np.float64)
            if offsets.shape != (horizon, len(quantiles)) or not np.isfinite(offsets).all():
                raise ArtifactError(f"calibration offsets have shape {offsets.shape}; expected "
                                    f"({horizon}, {len(quantiles)}) finite values")
        share = payload.get("median_bias")
        if share is not None and not (isinstance(share, int | float) and 0 <= share <= 1):
            raise ArtifactError(f"calibration median_bias {share!r} is not a share in [0, 1]")
        return cls(payload["method"], payload["base"], quantiles, offsets,
                   int(payload.get("windows", 0)), str(payload.get("split", "")),
                   payload.get("scale", "series"), None if share is None else float(share))
