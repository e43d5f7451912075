"""Dense forecaster (TiDE-style): the whole lookback at once, flattened, through an MLP.

The third answer to "how should a network read a sequence": neither step by step (LSTM,
GRU) nor by attention (Transformer), but all positions as one vector, each with its own
weights. Das et al. (2023, TiDE) and Zeng et al. (2023, "Are Transformers Effective for
Time Series Forecasting?") found such dense models level with or ahead of both on many
benchmarks, and NeuralForecast's NHITS, the strongest peer in docs/benchmarks.md on the
short quarterly and the weekly hourly sets, is one too. Its cost grows with the lookback
only through the first layer and the linear skip, both one matrix product.

- Each step's covariates are projected to `feature_size` values before flattening (TiDE's
  feature projection), so a long lookback with many covariates stays a narrow input.
- Residual blocks (LayerNorm, Linear, GELU, Dropout, Linear) encode; the shared
  `ForecastHead` decodes every horizon step with its known-ahead features and the statics.
- A linear map from the lookback's target straight to every horizon step and quantile
  (TiDE's global residual, NLinear's whole model) runs beside the MLP, so the network starts
  from a linear autoregression and learns what it lacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from pydantic import Field
from torch import nn

from .base import ForecastHead, ModelDims
from .registry import FamilyConfig, ModelFamily, register, shared_draws

if TYPE_CHECKING:
    from ..windows import Batch


class MLPConfig(FamilyConfig):
    """The `model.mlp` section."""

    # bounded far above any useful network, as in RNNConfig: refused before anything is built
    hidden_size: int = Field(256, ge=4, le=16384)
    num_layers: int = Field(2, ge=1, le=64, description="residual blocks in the encoder")
    feature_size: int = Field(4, ge=1, le=256, description="each lookback step's covariates "
                              "are projected to this many values before flattening")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)


class ResidualBlock(nn.Module):
    """x + MLP(LayerNorm(x)): depth without the vanishing gradient of a plain stack."""

    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class DenseForecaster(nn.Module):
    """(B, L, F) -> (B, H, Q): the flattened lookback through residual dense blocks."""

    def __init__(self, dims: ModelDims, config: MLPConfig):
        super().__init__()
        self.dims, self.config = dims, config
        n_covariates = dims.n_features - 1  # the target is column 0 of `past`
        self.project = (nn.Linear(n_covariates, config.feature_size) if n_covariates else None)
        flat = dims.lookback * (1 + (config.feature_size if n_covariates else 0))
        self.encoder = nn.Sequential(
            nn.Linear(flat, config.hidden_size), nn.GELU(), nn.Dropout(config.dropout),
            *(ResidualBlock(config.hidden_size, config.dropout)
              for _ in range(config.num_layers)),
            nn.LayerNorm(config.hidden_size))
        self.head = ForecastHead(config.hidden_size, dims, config.hidden_size, config.dropout)
        self.linear = nn.Linear(dims.lookback, dims.horizon * dims.n_outputs)

    def forward(self, batch: Batch) -> torch.Tensor:
        past = batch["past"]  # (B, L, F)
        target = past[..., 0]  # (B, L)
        parts = [target[..., None]]
        if self.project is not None:
            parts.append(self.project(past[..., 1:]))  # (B, L, feature_size)
        encoding = self.encoder(torch.cat(parts, dim=-1).flatten(1))  # (B, hidden)
        out = self.head(encoding, batch["future"], batch["static"])  # (B, H, Q)
        return out + self.linear(target).view(-1, self.dims.horizon, self.dims.n_outputs)


def mlp_search_space(trial, config) -> dict[str, Any]:
    """What `forecast tune` searches for the mlp (an Optuna trial's suggestions)."""
    return {
        "model.mlp.hidden_size": trial.suggest_categorical("hidden_size", [64, 128, 256, 512]),
        "model.mlp.num_layers": trial.suggest_int("num_layers", 1, 3),
        "model.mlp.feature_size": trial.suggest_categorical("feature_size", [2, 4, 8]),
        **shared_draws(trial, "mlp"),
    }


register(ModelFamily(
    name="mlp", config_class=MLPConfig, section="mlp", build=DenseForecaster,
    description="TiDE-style dense encoder over the whole flattened lookback, with a linear "
                "skip from it: no recurrence, no attention",
    calibrate_median=True, copies=3, search_space=mlp_search_space))
