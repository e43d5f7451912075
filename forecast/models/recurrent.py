"""LSTM and GRU forecasters: read the lookback step by step, forecast from the last state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from .base import ForecastHead, ModelDims
from .registry import FamilyConfig, ModelFamily, register, shared_draws

if TYPE_CHECKING:
    from ..windows import Batch


class RNNConfig(FamilyConfig):
    """The `model.rnn` section, shared by lstm and gru."""

    # upper bounds far above any useful network, so a config (a registered version's
    # config.json included) that describes an absurd one is refused before anything is built
    hidden_size: int = Field(64, ge=1, le=8192)
    num_layers: int = Field(1, ge=1, le=64)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    decoder: Literal["aligned", "last"] = Field(
        "aligned", description="aligned: horizon step j also reads the hidden state `horizon` "
        "steps before it (the same time of day when the horizon is a day), as NeuralForecast's "
        "LSTM does; last: every step reads the last state only (format-2 models)")
    seasonal_skip: bool = Field(
        False, description="forecast a correction to the value one season back (`data.season`; "
        "the last value when the season is longer than the lookback): the network starts from "
        "seasonal naive instead of from nothing")
    seasonal_input: bool | Literal["auto"] = Field(
        "auto", description="the aligned decoder's step j also reads the target one season "
        "back (`data.season`, when it fits the lookback; else the last value) as an input it "
        "learns to weigh, as DeepAR reads its lags, so a weekly pattern need not survive a "
        "week of hidden state; auto: training fits the network without it and, only when that "
        "one's validation MAE trails seasonal naive's, once more with it, keeping the one "
        "better on validation (a trained model holds true or false; a distributed run, whose "
        "ranks would have to agree, trains the plain one)")

    @model_validator(mode="after")
    def _lag_needs_step_decoder(self) -> RNNConfig:
        if self.seasonal_input is True and self.decoder != "aligned":
            raise ValueError("seasonal_input is read by the aligned decoder; set decoder: "
                             "aligned or seasonal_input: false")
        return self

    def as_built(self) -> RNNConfig:
        """`auto` undecided builds the plain network (models saved before the setting, too)."""
        if self.seasonal_input == "auto":
            return self.model_copy(update={"seasonal_input": False})
        return self


class RecurrentForecaster(nn.Module):
    """Sequential encoder: hidden state h_t = f(h_{t-1}, x_t). The head reads h_L; with the
    aligned decoder, step j of the horizon also reads h_{L-H+j} with its own known-ahead
    features, so a daily horizon sees yesterday's state at the same hour."""

    def __init__(self, dims: ModelDims, config: RNNConfig, cell: str):
        super().__init__()
        config = config.as_built()  # an undecided `auto` builds the plain network
        self.dims, self.config = dims, config
        rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn_class(
            input_size=dims.n_features,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = ForecastHead(config.hidden_size, dims, 2 * config.hidden_size, config.dropout)
        if config.decoder == "aligned":
            # state positions read by the horizon steps (the first state when H > L)
            positions = (torch.arange(dims.horizon) + dims.lookback - dims.horizon).clamp_min(0)
            self.register_buffer("positions", positions, persistent=False)
            self.step_decoder = nn.Sequential(
                nn.Linear(config.hidden_size + dims.n_future + int(config.seasonal_input),
                          config.hidden_size),
                nn.GELU(),
                nn.Linear(config.hidden_size, dims.n_outputs))
        if config.seasonal_skip or config.seasonal_input:
            self.register_buffer("season_back", season_back(dims), persistent=False)

    def forward(self, batch: Batch) -> torch.Tensor:
        outputs, _ = self.rnn(batch["past"])  # (B, L, F) -> (B, L, hidden)
        out = self.head(outputs[:, -1], batch["future"], batch["static"])  # (B, H, Q)
        if self.config.seasonal_skip or self.config.seasonal_input:
            last_season = batch["past"][:, self.season_back, :1]  # (B, H, 1) target, a season back
        if self.config.decoder == "aligned":
            inputs = [outputs[:, self.positions], batch["future"]]  # (B, H, hidden), (B, H, Fk)
            if self.config.seasonal_input:
                inputs.append(last_season)
            out = out + self.step_decoder(torch.cat(inputs, dim=-1))
        if self.config.seasonal_skip:  # every output column corrects the value a season back
            out = out + last_season
        return out


def season_back(dims: ModelDims) -> torch.Tensor:
    """(H,) lookback positions one season before each horizon step, repeating the last
    season over a longer horizon; the last step when the season does not fit the lookback."""
    season = dims.season if 1 <= dims.season <= dims.lookback else 1
    return dims.lookback - season + torch.arange(dims.horizon) % season


def rnn_search_space(trial, config) -> dict[str, Any]:
    """What `forecast tune` searches for lstm and gru (an Optuna trial's suggestions). The
    seasonal input wins on some sets and loses on others (docs/benchmarks.md), so it is a
    choice for the validation loss; only the aligned decoder reads it."""
    values = {
        "model.rnn.hidden_size": trial.suggest_categorical("hidden_size", [16, 32, 64, 128]),
        "model.rnn.num_layers": trial.suggest_int("num_layers", 1, 3),
        **shared_draws(trial, "rnn"),
    }
    if config.model.rnn.decoder == "aligned":
        values["model.rnn.seasonal_input"] = trial.suggest_categorical("seasonal_input",
                                                                       [False, True])
    return values


for _cell in ("lstm", "gru"):
    register(ModelFamily(
        name=_cell, config_class=RNNConfig, section="rnn",
        build=lambda dims, config, cell=_cell: RecurrentForecaster(dims, config, cell),
        description=f"{_cell.upper()} encoder over the lookback, direct multi-step head",
        loss_weighting="sqrt", calibrate_median=True,
        search_space=rnn_search_space))
