"""From the network's raw output to the quantiles a model serves: offsets and non-crossing.

A quantile head is trained with the pinball loss, but nothing makes its 0.9 quantile fall
above 90% of new values. Conformal calibration measures, on windows the network was not
fitted on, how far each quantile must move (per horizon step, in the series' scaled units)
so that it does, and stores those offsets with the model:

- `conformal` on a quantile head is conformalised quantile regression, one-sided per
  quantile (the asymmetric form of Romano et al., 2019);
- `conformal` on a point head (and `empirical`, what baselines get from their training
  part) is residual conformal: each quantile is the point plus a residual quantile.

Offsets live in scaled units so one calibration fits every series of a panel. The median is
never moved: it stays the point forecast the model was selected on.
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


def conformal_level(q: float, n: int) -> float:
    """The finite-sample level of the one-sided conformal quantile: ceil((n+1)q)/n above the
    median, floor((n+1)q)/n below, so each bound errs on the side of covering."""
    if q >= 0.5:
        return min(1.0, math.ceil((n + 1) * q) / n)
    return max(0.0, math.floor((n + 1) * q) / n)


def conformal_offsets(base: np.ndarray, actual: np.ndarray, quantiles: list[float]
                      ) -> np.ndarray:
    """Offsets (H, Q) so that `base[..., j] + offset` holds `actual` below it a fraction
    `quantiles[j]` of the time on these windows. base (N, H, Q), actual (N, H), scaled."""
    n = base.shape[0]
    residual = actual[..., None] - base  # (N, H, Q)
    offsets = np.zeros(base.shape[1:], dtype=np.float64)
    for j, q in enumerate(quantiles):
        if q == 0.5:
            continue
        method = "higher" if q > 0.5 else "lower"
        offsets[:, j] = np.quantile(residual[..., j], conformal_level(q, n), axis=0,
                                    method=method)
    return offsets


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

    @classmethod
    def identity(cls, quantiles: tuple[float, ...], point_head: bool) -> Calibration:
        return cls("none", "point" if point_head else "quantiles", tuple(quantiles))

    @property
    def calibrated(self) -> bool:
        """Whether coverage was measured and corrected out of sample (not just assumed)."""
        return self.method == "conformal"

    def broadcast(self, raw: torch.Tensor) -> torch.Tensor:
        """The uncalibrated quantiles: the head's own (sorted), or the point in every column."""
        if self.base == "point":
            return raw[..., :1].expand(*raw.shape[:-1], max(len(self.quantiles), 1))
        return non_crossing(raw)

    def apply(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw (B, H', Qh) with H' <= H -> served (B, H', Q), ascending, same scaled units."""
        base = self.broadcast(raw)
        if self.offsets is None:
            return base
        shift = torch.as_tensor(self.offsets[: raw.shape[1]], dtype=raw.dtype)
        return non_crossing(base + shift)

    def fitted(self, method: Method, base: np.ndarray, actual: np.ndarray, split: str
               ) -> Calibration:
        """This calibration with offsets measured on windows of `split`; base from
        `broadcast`, (N, H, Q), and actual (N, H), both scaled."""
        offsets = conformal_offsets(base, actual, list(self.quantiles))
        return Calibration(method, self.base, self.quantiles, offsets, int(base.shape[0]),
                           split)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "base": self.base, "quantiles": list(self.quantiles),
                "offsets": None if self.offsets is None else self.offsets.tolist(),
                "windows": self.windows, "split": self.split}

    @classmethod
    def from_json(cls, payload: dict[str, Any], horizon: int) -> Calibration:
        offsets = payload.get("offsets")
        quantiles = tuple(float(q) for q in payload["quantiles"])
        if payload.get("method") not in ("none", "conformal", "empirical") or \
                payload.get("base") not in ("quantiles", "point"):
            raise ArtifactError(f"calibration method/base {payload.get('method')!r}/"
                                f"{payload.get('base')!r} is not known")
        if offsets is not None:
            offsets = np.asarray(offsets, dtype=np.float64)
            if offsets.shape != (horizon, len(quantiles)) or not np.isfinite(offsets).all():
                raise ArtifactError(f"calibration offsets have shape {offsets.shape}; expected "
                                    f"({horizon}, {len(quantiles)}) finite values")
        return cls(payload["method"], payload["base"], quantiles, offsets,
                   int(payload.get("windows", 0)), str(payload.get("split", "")))
