"""Encoder-only Transformer: every lookback position attends to every other one at once.

Option: PatchTST-style patching (tokens are patches of `patch_len` steps, so attention cost
falls by patch_len^2). Instance normalisation (RevIN) is `model.normalization`, shared by
every family (`normalization.py`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from .base import ForecastHead, ModelDims
from .registry import FamilyConfig, ModelFamily, register, shared_draws

if TYPE_CHECKING:
    from ..windows import Batch


class TransformerConfig(FamilyConfig):
    """The `model.transformer` section."""

    # bounded far above any useful network, as in RNNConfig: refused before anything is built
    d_model: int = Field(64, ge=4, le=8192)
    n_heads: int = Field(4, ge=1, le=256)
    n_layers: int = Field(2, ge=1, le=128)
    ff_dim: int = Field(128, ge=1, le=65536)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    patch_len: int | None = Field(None, ge=0, description="0 = one token per step; >0 = "
                                  "PatchTST-style; null = from the data's frequency")
    # "flatten" (PatchTST head) or "mean" (head size independent of the lookback)
    pooling: Literal["flatten", "mean"] = "flatten"

    @model_validator(mode="after")
    def _heads_divide(self) -> TransformerConfig:
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})"
            )
        return self


def sinusoidal_positions(n: int, d_model: int) -> torch.Tensor:
    """(n, d_model) fixed positional encoding of Vaswani et al."""
    position = torch.arange(n, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(1e4) / d_model))
    table = torch.zeros(n, d_model)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div)[:, : d_model // 2]
    return table


class EncoderBlock(nn.Module):
    """Pre-norm self-attention + MLP; can hand back its attention weights."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.d_model)
        self.attn = nn.MultiheadAttention(
            config.d_model, config.n_heads, dropout=config.dropout, batch_first=True
        )
        self.norm2 = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, config.ff_dim),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.ff_dim, config.d_model),
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.norm1(x)  # (B, N, D)
        attended, weights = self.attn(
            h, h, h, need_weights=need_weights, average_attn_weights=False
        )  # weights: (B, heads, N, N)
        x = x + self.dropout(attended)
        x = x + self.dropout(self.mlp(self.norm2(x)))
        return x, weights


class TransformerForecaster(nn.Module):
    def __init__(self, dims: ModelDims, config: TransformerConfig):
        super().__init__()
        self.dims, self.config = dims, config
        self.patch_len = max(config.patch_len or 1, 1)  # resolved before training
        self.n_tokens = math.ceil(dims.lookback / self.patch_len)
        self.pad = self.n_tokens * self.patch_len - dims.lookback
        self.embed = nn.Linear(self.patch_len * dims.n_features, config.d_model)
        self.register_buffer(
            "positions", sinusoidal_positions(self.n_tokens, config.d_model), persistent=False
        )
        self.blocks = nn.ModuleList(EncoderBlock(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model)
        encoding = self.n_tokens * config.d_model if config.pooling == "flatten" else config.d_model
        self.head = ForecastHead(encoding, dims, 4 * config.d_model, config.dropout)

    def _tokens(self, past: torch.Tensor) -> torch.Tensor:
        B, L, F = past.shape
        if self.pad:  # repeat the first step so every patch is full
            past = torch.cat([past[:, :1].expand(B, self.pad, F), past], dim=1)
        return past.reshape(B, self.n_tokens, self.patch_len * F)  # (B, N, P*F)

    def forward(
        self, batch: Batch, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        past = batch["past"]  # (B, L, F)
        x = self.embed(self._tokens(past)) + self.positions  # (B, N, D)
        maps = []
        for block in self.blocks:
            x, weights = block(x, need_weights=return_attention)
            if return_attention:
                maps.append(weights)
        x = self.norm(x)
        x = x.flatten(1) if self.config.pooling == "flatten" else x.mean(dim=1)  # (B, N*D)|(B, D)
        out = self.head(x, batch["future"], batch["static"])  # (B, H, Q)
        if return_attention:
            return out, torch.stack(maps, dim=1)  # (B, layers, heads, N, N)
        return out

    def token_attention(self, batch: Batch) -> np.ndarray:
        """(B, N): attention each token (a patch of input steps) receives, averaged over
        heads, layers and queries: the grain the model weighs its input at."""
        with torch.inference_mode():
            _, maps = self(batch, return_attention=True)  # (B, layers, heads, N, N)
        return maps.mean(dim=(1, 2)).mean(dim=1).numpy()  # (B, N) mean over queries

    def token_spans(self) -> list[tuple[int, int]]:
        """The input steps [first, last] of each token (the first patch is shorter by the
        front padding)."""
        return [(max(0, i * self.patch_len - self.pad), (i + 1) * self.patch_len - self.pad - 1)
                for i in range(self.n_tokens)]

    def step_attention(self, batch: Batch) -> np.ndarray:
        """(B, L): each token's attention spread evenly over its steps (for plots by step)."""
        per_token = torch.from_numpy(self.token_attention(batch))
        per_step = per_token.repeat_interleave(self.patch_len, dim=1) / self.patch_len  # (B, N*P)
        return per_step[:, self.pad:].numpy()  # drop the front padding -> (B, L)


def patch_choices(patch_len: int, lookback: int) -> list[int]:
    """Patch lengths to search around the data's own (its frequency's default, or the one
    set): half, once, twice and four times it, those that leave at least two tokens in the
    lookback. 0 (a token per step) is a choice the user made: it is kept, not searched."""
    if patch_len == 0:
        return [0]
    wanted = {max(1, patch_len // 2), patch_len, 2 * patch_len, 4 * patch_len}
    fitting = sorted(p for p in wanted if p <= max(1, lookback // 2))
    return fitting or [max(1, lookback // 2)]


def transformer_search_space(trial, config) -> dict[str, Any]:
    """What `forecast tune` searches for the transformer (an Optuna trial's suggestions).
    Patch lengths follow the data: a quarterly lookback of 16 steps gets 2, 4 or 8, an
    hourly one of 168 steps 6 to 48."""
    d_model = trial.suggest_categorical("d_model", [16, 32, 64])
    patches = patch_choices(config.model.transformer.patch_len, config.data.lookback)
    return {
        "model.transformer.d_model": d_model,
        "model.transformer.n_heads": trial.suggest_categorical("n_heads", [2, 4]),
        "model.transformer.n_layers": trial.suggest_int("n_layers", 1, 3),
        "model.transformer.ff_dim": 2 * d_model,
        "model.transformer.patch_len": trial.suggest_categorical("patch_len", patches),
        **shared_draws(trial, "transformer"),
    }


register(ModelFamily(
    name="transformer", config_class=TransformerConfig, section="transformer",
    build=TransformerForecaster, attention=True, calibrate_median="auto", copies=3,
    description="encoder-only self-attention, PatchTST-style patches",
    search_space=transformer_search_space))
