"""Yardsticks with no parameters to learn: the last value, or the value one season ago."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import ConfigError
from .base import ModelDims
from .registry import FamilyConfig, ModelFamily, register

if TYPE_CHECKING:
    from ..windows import Batch


class BaselineConfig(FamilyConfig):
    """Baselines have no settings: the season is `data.season` (in ModelDims)."""


class BaselineForecaster(nn.Module):
    def __init__(self, dims: ModelDims, season: int):
        super().__init__()
        if season > dims.lookback:
            raise ConfigError(
                f"seasonal_naive needs data.lookback >= data.season; got lookback "
                f"{dims.lookback} < season {season}"
            )
        self.dims = dims
        steps = torch.arange(dims.horizon) % season
        # index into the lookback of the value one season before each horizon step
        self.register_buffer("source", dims.lookback - season + steps, persistent=False)

    def forward(self, batch: Batch) -> torch.Tensor:
        y = batch["past"][:, :, 0]  # (B, L)
        out = y[:, self.source]  # (B, H)
        return out.unsqueeze(-1).expand(-1, -1, self.dims.n_outputs)  # (B, H, Q)


register(ModelFamily(name="naive", config_class=BaselineConfig, neural=False, quantiles=False,
                     build=lambda dims, config: BaselineForecaster(dims, 1),
                     description="the last observed value, repeated"))
register(ModelFamily(name="seasonal_naive", config_class=BaselineConfig, neural=False,
                     quantiles=False,
                     build=lambda dims, config: BaselineForecaster(dims, dims.season),
                     description="the value one season (data.season) earlier"))
