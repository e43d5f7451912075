"""LSTM and GRU forecasters: read the lookback step by step, forecast from the last state."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..windows import Batch
from .base import ForecastHead, ModelDims


@dataclass(frozen=True)
class RNNConfig:
    cell: str  # "lstm" | "gru"
    hidden_size: int = 64
    num_layers: int = 2
    dropout: float = 0.1


class RecurrentForecaster(nn.Module):
    """Sequential encoder: hidden state h_t = f(h_{t-1}, x_t); the head reads h_L."""

    def __init__(self, dims: ModelDims, config: RNNConfig):
        super().__init__()
        self.dims, self.config = dims, config
        rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU}[config.cell]
        self.rnn = rnn_class(
            input_size=dims.n_features,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = ForecastHead(config.hidden_size, dims, 2 * config.hidden_size, config.dropout)

    def forward(self, batch: Batch) -> torch.Tensor:
        outputs, _ = self.rnn(batch["past"])  # (B, L, F) -> (B, L, hidden)
        last = outputs[:, -1]  # (B, hidden)
        return self.head(last, batch["future"], batch["static"])  # (B, H, Q)
