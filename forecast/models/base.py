"""What every forecaster shares: its dimensions and the direct multi-step output head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..calibration import non_crossing

if TYPE_CHECKING:
    from ..windows import Batch


@dataclass(frozen=True)
class ModelDims:
    """Shapes fixed by the data: (B, lookback, n_features) -> (B, horizon, n_outputs)."""

    lookback: int
    horizon: int
    n_features: int  # per lookback step: y, past covariates, known-ahead features
    n_future: int  # per horizon step: known-ahead features
    n_static: int
    n_outputs: int  # 1 for a point forecast, else the number of quantiles
    season: int = 1  # steps per season (seasonal_naive reads it)


class ForecastHead(nn.Module):
    """Direct multi-step head: encoding + future covariates + statics -> all horizon steps at once.

    Future covariates enter per step (so a holiday tomorrow moves tomorrow's forecast).
    """

    def __init__(self, encoding_size: int, dims: ModelDims, hidden: int, dropout: float):
        super().__init__()
        self.dims = dims
        self.context = nn.Sequential(
            nn.Linear(encoding_size + dims.n_static, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dims.horizon * (hidden // 4)),
        )
        self.step = nn.Sequential(
            nn.Linear(hidden // 4 + dims.n_future, hidden // 2),
            nn.GELU(),
            nn.Linear(hidden // 2, dims.n_outputs),
        )
        self.skip = nn.Linear(encoding_size + dims.n_static, dims.horizon * dims.n_outputs)

    def forward(
        self, encoding: torch.Tensor, future: torch.Tensor, static: torch.Tensor
    ) -> torch.Tensor:
        B, H, Q = encoding.shape[0], self.dims.horizon, self.dims.n_outputs
        z = torch.cat([encoding, static], dim=-1)  # (B, E+S)
        per_step = self.context(z).view(B, H, -1)  # (B, H, hidden/4)
        out = self.step(torch.cat([per_step, future], dim=-1))  # (B, H, Q)
        return out + self.skip(z).view(B, H, Q)


class SeriesEmbedding(nn.Module):
    """A learned vector per training series, appended to the static features of whatever
    family it wraps (`model.series_embedding` > 0). Row 0 stands for series the model never
    saw: training replaces a series' key by 0 a share `unknown_rate` of the time, so row 0
    learns a generic series and new series still get a sensible forecast."""

    def __init__(self, inner: nn.Module, n_series: int, dim: int, unknown_rate: float = 0.1):
        super().__init__()
        self.inner, self.unknown_rate = inner, unknown_rate
        self.table = nn.Embedding(n_series + 1, dim)

    def with_embedding(self, batch: Batch) -> Batch:
        key = batch["key"]
        if self.training and self.unknown_rate > 0:
            key = torch.where(torch.rand(key.shape) < self.unknown_rate, 0, key)
        return {**batch, "static": torch.cat([batch["static"], self.table(key)], dim=-1)}

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.inner(self.with_embedding(batch))

    def step_attention(self, batch: Batch):
        return self.inner.step_attention(self.with_embedding(batch))

    def token_attention(self, batch: Batch):
        """What `explain` reads from an attention family, through the embedding."""
        return self.inner.token_attention(self.with_embedding(batch))

    def token_spans(self):
        return self.inner.token_spans()


class Copies(nn.Module):
    """`model.copies`: several networks of one architecture, each from its own random start,
    trained side by side on the same batches, each on its own loss (`each`), and served as
    the mean of their sorted quantiles (a deep ensemble). Networks that start apart end in
    different minima and err differently, so their mean errs less than a typical one; the
    pinball loss is convex, so the mean's loss is never above the copies' average."""

    def __init__(self, networks: list[nn.Module]):
        super().__init__()
        self.copies = nn.ModuleList(networks)

    def each(self, batch: Batch) -> list[torch.Tensor]:
        """Every copy's own output (B, H, Q), for training each on its loss."""
        return [network(batch) for network in self.copies]

    def forward(self, batch: Batch) -> torch.Tensor:
        return torch.stack([non_crossing(out) for out in self.each(batch)]).mean(dim=0)

    def step_attention(self, batch: Batch):
        return sum(network.step_attention(batch) for network in self.copies) / len(self.copies)

    def token_attention(self, batch: Batch):
        """The copies' mean attention per token: they share the tokens (`token_spans`)."""
        return sum(network.token_attention(batch) for network in self.copies) / len(self.copies)

    def token_spans(self):
        return self.copies[0].token_spans()

