"""Yardsticks with no parameters to learn: the last value, or the value one season ago."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..windows import Batch
from .base import ModelDims


@dataclass(frozen=True)
class BaselineConfig:
    kind: str  # "naive" | "seasonal_naive"
    season: int = 1


class BaselineForecaster(nn.Module):
    def __init__(self, dims: ModelDims, config: BaselineConfig):
        super().__init__()
        if config.kind == "seasonal_naive" and config.season > dims.lookback:
            raise ConfigError(
                f"seasonal_naive needs data.lookback >= data.season; got lookback "
                f"{dims.lookback} < season {config.season}"
            )
        self.dims, self.config = dims, config
        season = config.season if config.kind == "seasonal_naive" else 1
        steps = torch.arange(dims.horizon) % season
        # index into the lookback of the value one season before each horizon step
        self.register_buffer("source", dims.lookback - season + steps, persistent=False)

    def forward(self, batch: Batch) -> torch.Tensor:
        y = batch["past"][:, :, 0]  # (B, L)
        out = y[:, self.source]  # (B, H)
        return out.unsqueeze(-1).expand(-1, -1, self.dims.n_outputs)  # (B, H, Q)
