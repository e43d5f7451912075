"""`Predictor`: a trained model, complete and immutable: what training returns and the service holds.

It owns everything needed to turn raw series into forecasts (feature spec, scaler, network,
dimensions) and nothing about how it was trained; evaluation and backtests are functions of
(predictor, data) in `evaluation.py`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import ValidationError
from torch import nn

from . import __version__
from .artifacts import load_artifact, save_artifact
from .calibration import Calibration
from .data.panel import FeatureSpec
from .data.scaling import SeriesScaler
from .errors import ArtifactError, DataValidationError, ForecastError
from .explain import Explanation, explain_batch
from .inference import (
    CheckedSeries,
    SeriesForecast,
    SeriesInput,
    build_batch,
    check_series,
    check_values,
    fill_missing_steps,
    future_index,
    to_original_scale,
)
from .metrics import point_index
from .models import FamilyConfig, ModelDims, get_family
from .models.base import Copies, SeriesEmbedding
from .models.normalization import NO_INSTANCE_NORM, Normalization


def model_dims(spec: FeatureSpec, lookback: int, horizon: int, n_outputs: int,
               season: int) -> ModelDims:
    """The network's shapes follow from the features and the task; nothing else decides them."""
    return ModelDims(lookback=lookback, horizon=horizon, n_features=spec.n_step_features,
                     n_future=spec.n_future, n_static=len(spec.static_covariates),
                     n_outputs=n_outputs, season=season)


def check_weights(build, dims: ModelDims, architecture: FamilyConfig,
                  weights: Mapping[str, torch.Tensor], source: object) -> None:
    """Compare the weights with the network the config describes, built on the meta device
    (shapes only, no memory), so a config with absurd dimensions is refused at once instead
    of allocating gigabytes."""
    with torch.device("meta"):
        expected = build(dims, architecture).state_dict()
    wrong = [k for k, v in expected.items()
             if k not in weights or tuple(weights[k].shape) != tuple(v.shape)]
    unexpected = [k for k in weights if k not in expected]
    if wrong or unexpected:
        shapes = {k: tuple(expected[k].shape) for k in wrong[:3]}
        raise ArtifactError(f"weights in {source} do not fit the architecture its config.json "
                            f"describes: expected shapes {shapes}, unexpected {unexpected[:3]}")


def build_network(name: str, dims: ModelDims, architecture: FamilyConfig, n_series: int = 0,
                  embedding_dim: int = 0, normalization: Normalization = NO_INSTANCE_NORM,
                  copies: int = 1) -> nn.Module:
    """The family's network inside its normalisation; with a series embedding, wrapped so its
    vector joins the static features (the family sees `embedding_dim` more of them); with
    `copies` above 1, that many such networks, each built from its own random start."""
    if copies > 1:
        return Copies([build_network(name, dims, architecture, n_series, embedding_dim,
                                     normalization) for _ in range(copies)])
    build = get_family(name).build
    if not embedding_dim:
        return normalization.wrap(build(dims, architecture))
    inner = build(dataclasses.replace(dims, n_static=dims.n_static + embedding_dim), architecture)
    return SeriesEmbedding(normalization.wrap(inner), n_series, embedding_dim)


class ServedModel:
    """What every served model does with raw series, whatever computes its outputs: check
    them, batch them, forecast them. A `Predictor` is one network; an `Ensemble` combines
    several. Subclasses provide `spec`, `scaler`, `dims`, `quantiles`, `series_ids` and
    `outputs(batch)`."""

    @cached_property
    def _keys(self) -> dict[str, int]:
        return {uid: i + 1 for i, uid in enumerate(self.series_ids)}

    def key_of(self, unique_id: str) -> int:
        """The series' row in the embedding: 0 for a series training never saw (or none)."""
        return self._keys.get(unique_id, 0)

    def keys_for(self, panel) -> np.ndarray:
        return np.array([self.key_of(s.unique_id) for s in panel.series], dtype=np.int64)

    @property
    def lookback(self) -> int:
        return self.dims.lookback

    @property
    def horizon(self) -> int:
        return self.dims.horizon

    @property
    def point(self) -> int:
        """Column of the point forecast in served output (the median when quantiles are set)."""
        return point_index(list(self.quantiles))

    # ---- inference ----------------------------------------------------------------------
    def check_horizon(self, horizon: int | None) -> int:
        horizon = self.horizon if horizon is None else int(horizon)
        if not 1 <= horizon <= self.horizon:
            raise DataValidationError(
                f"horizon {horizon} is outside 1..{self.horizon}, the horizon the model was "
                "trained for", "horizon")
        return horizon

    def check(self, item: SeriesInput) -> CheckedSeries:
        """Raise the contract's named exception for anything that makes a forecast meaningless;
        a model trained with `data.fill` fills a history's missing timestamps the same way."""
        item = fill_missing_steps(item, self.spec.freq, self.spec.fill)
        check_series(item, self.spec, self.lookback, self.horizon)
        stats, x_all = check_values(item, self.spec, self.scaler, self.lookback, self.horizon,
                                    self.dims.season)
        future_ds = future_index(item.ds[-1], self.spec.freq, self.horizon)
        return CheckedSeries(item, stats, future_ds, x_all)

    def _batch(self, checked: Sequence[CheckedSeries]):
        return build_batch(list(checked), self.spec, self.lookback, self.horizon,
                           [self.key_of(c.item.unique_id) for c in checked])

    def forecast(self, checked: Sequence[CheckedSeries], horizon: int | None = None
                 ) -> list[SeriesForecast]:
        """Forecast many checked series in one forward pass (the service's batched path)."""
        horizon = self.check_horizon(horizon)
        if not checked:
            return []
        batch, future_ds = self._batch(checked)
        values = to_original_scale(self.outputs(batch), batch)[:, :horizon]  # (B, h, Q)
        return [SeriesForecast(c.item.unique_id, ds[:horizon], values[i],
                               c.item.ds[-self.lookback:])
                for i, (c, ds) in enumerate(zip(checked, future_ds, strict=True))]

    def predict_series(self, items: Sequence[SeriesInput], horizon: int | None = None
                       ) -> list[SeriesForecast]:
        return self.forecast([self.check(item) for item in items], horizon)

    def smoke_test(self) -> None:
        """One prediction on a synthetic series; raises if the output is not finite."""
        n, spec = self.lookback, self.spec
        ds = pd.date_range("2020-01-01", periods=n, freq=spec.freq)
        covariates = {c: np.zeros(n + (self.horizon if c in spec.future_covariates else 0))
                      for c in spec.covariates}
        static = dict.fromkeys(spec.static_covariates, 0.0)
        item = SeriesInput("__smoke__", ds, np.sin(np.arange(n) / 7.0), covariates, static)
        values = self.predict_series([item])[0].values
        if values.shape != (self.horizon, max(len(self.quantiles), 1)) or not np.isfinite(values).all():
            raise ForecastError(f"smoke prediction failed: shape {values.shape}, "
                                f"finite={bool(np.isfinite(values).all())}")


@dataclass(frozen=True)
class Predictor(ServedModel):
    name: str  # model family
    architecture: FamilyConfig
    network: nn.Module
    spec: FeatureSpec
    scaler: SeriesScaler
    dims: ModelDims
    quantiles: tuple[float, ...] = ()  # the levels served
    calibration: Calibration = field(default_factory=lambda: Calibration.identity((), True))
    metrics: Mapping[str, float] = field(default_factory=dict)
    training_config: Mapping[str, Any] = field(default_factory=dict)  # provenance only
    series_ids: tuple[str, ...] = ()  # the rows of the series embedding, when there is one
    embedding_dim: int = 0
    normalization: Normalization = NO_INSTANCE_NORM
    copies: int = 1  # networks whose mean is served (`model.copies`)

    @classmethod
    def build(cls, name: str, architecture: FamilyConfig, spec: FeatureSpec,
              scaler: SeriesScaler, lookback: int, horizon: int, quantiles: Sequence[float],
              season: int, training_config: Mapping[str, Any] | None = None,
              point_head: bool = False, calibration: Calibration | None = None,
              series_ids: Sequence[str] = (), embedding_dim: int = 0,
              normalization: Normalization = NO_INSTANCE_NORM, copies: int = 1) -> Predictor:
        """A fresh (untrained) predictor of family `name` for this task. A point head emits
        one column and serves `quantiles` through its calibration."""
        quantiles, architecture = tuple(quantiles), architecture.as_built()
        calibration = calibration or Calibration.identity(quantiles, point_head or not quantiles)
        n_outputs = 1 if calibration.base == "point" else len(quantiles)
        dims = model_dims(spec, lookback, horizon, n_outputs, season)
        network = build_network(name, dims, architecture, len(series_ids), embedding_dim,
                                normalization, copies)
        return cls(name, architecture, network, spec, scaler, dims, quantiles, calibration,
                   training_config=training_config or {}, series_ids=tuple(series_ids),
                   embedding_dim=embedding_dim, normalization=normalization, copies=copies)

    def with_metrics(self, metrics: Mapping[str, float]) -> Predictor:
        return dataclasses.replace(self, metrics=dict(metrics))

    def with_calibration(self, calibration: Calibration) -> Predictor:
        return dataclasses.replace(self, calibration=calibration)

    @property
    def head_point(self) -> int:
        """Column of the point forecast in the network's own output."""
        return 0 if self.calibration.base == "point" else self.point

    def outputs(self, batch) -> torch.Tensor:
        """Served quantiles (B, H, Q) in scaled units: the network, then its calibration."""
        self.network.eval()
        with torch.inference_mode():
            return self.calibration.apply(self.network(batch), batch["past"][..., 0])

    def explain(self, checked: Sequence[CheckedSeries], top_k: int = 10) -> list[Explanation]:
        """The `top_k` input timestamps that mattered most for each series' forecast."""
        batch, _ = self._batch(checked)
        history = [c.item.ds[-self.lookback:] for c in checked]
        return explain_batch(self.network, get_family(self.name).attention, batch, history,
                             self.head_point, top_k)

    # ---- persistence --------------------------------------------------------------------
    def config_json(self) -> dict[str, Any]:
        """What config.json holds: each fact once, enough to rebuild the network."""
        features = {k: v for k, v in self.spec.to_json().items() if k != "freq"}
        return {
            "name": self.name,
            "architecture": self.architecture.model_dump(),
            "lookback": self.lookback,
            "horizon": self.horizon,
            "freq": self.spec.freq,
            "season": self.dims.season,
            "features": features,
            "quantiles": list(self.quantiles),
            "normalization": self.normalization.to_json(),
            "calibration": self.calibration.to_json(),
            "metrics": dict(self.metrics),
            "library_version": __version__,
            "training_config": dict(self.training_config),
            **({"series_embedding": {"dim": self.embedding_dim, "ids": list(self.series_ids)}}
               if self.embedding_dim else {}),
            **({"copies": self.copies} if self.copies > 1 else {}),
        }

    def save(self, directory: str | Path) -> Path:
        return save_artifact(directory, self.network.state_dict(), self.config_json(),
                             self.scaler.to_json())

    @classmethod
    def load(cls, directory: str | Path) -> Predictor:
        """Rebuild from a model directory: safetensors weights and JSON, no unpickling."""
        weights, config, scaler = load_artifact(directory)
        family = get_family(config["name"])
        try:
            architecture = family.config_class.model_validate(config["architecture"])
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in err.errors()[:3])
            raise ArtifactError(f"{directory}: architecture does not fit family "
                                f"'{family.name}': {problems}") from None
        spec = FeatureSpec.from_json({**config["features"], "freq": config["freq"]})
        quantiles = tuple(config["quantiles"])
        # models saved before calibration existed serve their head's quantiles unchanged
        calibration = (Calibration.from_json(config["calibration"], config["horizon"])
                       if config.get("calibration") else
                       Calibration.identity(quantiles, not quantiles))
        if calibration.quantiles != quantiles:
            raise ArtifactError(f"{directory}: calibration quantiles {calibration.quantiles} "
                                f"differ from the model's {quantiles}")
        n_outputs = 1 if calibration.base == "point" else len(quantiles)
        dims = model_dims(spec, config["lookback"], config["horizon"], n_outputs,
                          config["season"])
        embedding = config.get("series_embedding") or {"dim": 0, "ids": []}
        ids, dim = tuple(map(str, embedding["ids"])), int(embedding["dim"])
        normalization = Normalization.from_json(config["normalization"])
        copies = config.get("copies", 1)  # one network: every model saved before copies
        if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= 16:
            raise ArtifactError(f"{directory}: copies {copies!r} is not a whole number in 1..16")
        check_weights(lambda d, a: build_network(family.name, d, a, len(ids), dim, normalization,
                                                 copies),
                      dims, architecture, weights, directory)
        predictor = cls.build(family.name, architecture, spec, SeriesScaler.from_json(scaler),
                              config["lookback"], config["horizon"], quantiles,
                              config["season"], config.get("training_config"),
                              calibration=calibration, series_ids=ids, embedding_dim=dim,
                              normalization=normalization, copies=copies)
        predictor.network.load_state_dict(weights)
        predictor.network.eval()
        return predictor.with_metrics(config.get("metrics", {}))
