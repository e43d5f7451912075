"""Model registry: one file per family, one constructor for all of them."""

from __future__ import annotations

from dataclasses import asdict

from torch import nn

from ..config import MODEL_NAMES, ModelSettings
from ..errors import ConfigError
from .base import ForecastHead, ModelDims
from .baselines import BaselineConfig, BaselineForecaster
from .recurrent import RecurrentForecaster, RNNConfig
from .transformer import TransformerConfig, TransformerForecaster

__all__ = [
    "BaselineForecaster",
    "ForecastHead",
    "ModelDims",
    "RecurrentForecaster",
    "TransformerForecaster",
    "architecture_from_settings",
    "build_model",
]


def architecture_from_settings(settings: ModelSettings, season: int) -> dict:
    """The architecture block of config.json for the chosen model."""
    name = settings.name
    if name in ("lstm", "gru"):
        return asdict(RNNConfig(cell=name, **settings.rnn.model_dump()))
    if name == "transformer":
        return asdict(TransformerConfig(**settings.transformer.model_dump()))
    if name in ("naive", "seasonal_naive"):
        return asdict(BaselineConfig(kind=name, season=season))
    raise ConfigError(f"unknown model '{name}'; valid choices: {list(MODEL_NAMES)}")


def build_model(name: str, dims: ModelDims, architecture: dict) -> nn.Module:
    if name in ("lstm", "gru"):
        return RecurrentForecaster(dims, RNNConfig(**architecture))
    if name == "transformer":
        return TransformerForecaster(dims, TransformerConfig(**architecture))
    if name in ("naive", "seasonal_naive"):
        return BaselineForecaster(dims, BaselineConfig(**architecture))
    raise ConfigError(f"unknown model '{name}'; valid choices: {list(MODEL_NAMES)}")
