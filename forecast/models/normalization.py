"""How a network sees the level and spread of a series: one component for every neural family.

Two layers, chosen by `model.normalization`:
- `series`: the data layer's per-series scaling only (statistics of the training part).
  A series whose level moves after training reaches the network out of the range it learnt.
- `revin` (default): per-series scaling, then per-window instance normalisation of the target
  (RevIN, Kim et al. 2022): each lookback window is standardised by its own mean and spread,
  the network forecasts in those units, and the forecast is put back at the window's level.
  A level or scale shift after training is then invisible to the network.

The wrapper sits inside the network, so training, evaluation, the service and `explain` all
go through it; it has no weights unless `affine` adds RevIN's learnable scale and shift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

if TYPE_CHECKING:
    from ..windows import Batch

Method = Literal["revin", "series"]
MIN_STD = 1e-3  # in per-series scaled units: a flat window is not blown up


@dataclass(frozen=True)
class Normalization:
    """The choice stored in config.json: `{"method": "revin", "affine": false}`."""

    method: Method = "series"
    affine: bool = False

    def to_json(self) -> dict:
        return {"method": self.method, "affine": self.affine}

    @classmethod
    def from_json(cls, data: dict) -> Normalization:
        return cls(data["method"], bool(data.get("affine", False)))

    def wrap(self, network: nn.Module) -> nn.Module:
        return InstanceNorm(network, self.affine) if self.method == "revin" else network


NO_INSTANCE_NORM = Normalization("series")  # per-series scaling only (baselines, old models)


class InstanceNorm(nn.Module):
    """RevIN around any family's network: normalise the target channel of the lookback
    (channel 0 of `past`), forecast, then undo it on every output column."""

    def __init__(self, inner: nn.Module, affine: bool = False):
        super().__init__()
        self.inner, self.affine = inner, affine
        if affine:
            self.weight = nn.Parameter(torch.ones(1))
            self.bias = nn.Parameter(torch.zeros(1))

    def normalise(self, batch: Batch) -> tuple[Batch, torch.Tensor, torch.Tensor]:
        past = batch["past"]  # (B, L, F)
        target = past[:, :, :1]
        mean = target.mean(dim=1, keepdim=True)  # (B, 1, 1)
        std = target.std(dim=1, keepdim=True).clamp_min(MIN_STD)
        target = (target - mean) / std
        if self.affine:
            target = target * self.weight + self.bias
        return {**batch, "past": torch.cat([target, past[:, :, 1:]], dim=-1)}, mean, std

    def denormalise(self, out: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
                    ) -> torch.Tensor:
        if self.affine:
            out = (out - self.bias) / (self.weight + 1e-10)  # RevIN's own inverse
        return out * std + mean

    def forward(self, batch: Batch, **options):
        """`options` reach the inner network (`return_attention=True` for the Transformer,
        whose extra outputs pass through untouched)."""
        normalised, mean, std = self.normalise(batch)
        out = self.inner(normalised, **options)  # (B, H, Q) in window units, or a tuple
        if isinstance(out, tuple):
            return (self.denormalise(out[0], mean, std), *out[1:])
        return self.denormalise(out, mean, std)

    def step_attention(self, batch: Batch):
        return self.inner.step_attention(self.normalise(batch)[0])

    def token_attention(self, batch: Batch):
        return self.inner.token_attention(self.normalise(batch)[0])

    def token_spans(self) -> list[tuple[int, int]]:
        return self.inner.token_spans()
