"""The BentoML service `Forecaster`: serves the model behind the registry alias over HTTP."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
from collections.abc import Sequence

import bentoml
import mlflow
import numpy as np
import pandas as pd
import torch
from fastapi import FastAPI
from starlette.responses import JSONResponse, RedirectResponse

from forecast.errors import (
    DataValidationError,
    FrequencyError,
    MissingColumnError,
    MissingFutureCovariateError,
    NonFiniteValueError,
    SeriesTooShortError,
)
from forecast.forecaster import quantile_label
from forecast.inference import SeriesForecast, SeriesInput, check_series
from forecast.metrics import point_index

from .batching import MicroBatcher
from .middleware import ForecastGuard
from .model_source import LoadedModel, ModelSource
from .schemas import (
    ErrorBody,
    ForecastOut,
    InputImportance,
    ModelInfo,
    ModelRef,
    PredictResponse,
    ReloadResponse,
    SeriesIn,
)
from .settings import ServiceSettings
from .timeout import install as install_timeout

log = logging.getLogger("forecast.service")
install_timeout()
info_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


def error(status: int, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(ErrorBody(error=message, field=field).model_dump(), status_code=status)


def field_of(err: DataValidationError, index: int) -> str:
    """Where in the request body the problem is, in the client's terms."""
    prefix = f"series[{index}]"
    if isinstance(err, (MissingColumnError, MissingFutureCovariateError)):
        return f"{prefix}.covariates.{err.column}"
    if isinstance(err, NonFiniteValueError):
        return f"{prefix}.y" if err.column == "y" else f"{prefix}.covariates.{err.column}"
    if isinstance(err, FrequencyError):
        return f"{prefix}.ds"
    if isinstance(err, SeriesTooShortError):
        return f"{prefix}.y"
    return prefix


def utc_index(ds: list) -> pd.DatetimeIndex:
    """Naive UTC timestamps; naive inputs are taken as UTC. Tries the direct constructor
    first (4x cheaper, it runs for every series), and mixed offsets go through to_datetime."""
    try:
        index = pd.DatetimeIndex(ds)
    except (ValueError, TypeError):
        return pd.DatetimeIndex(pd.to_datetime(ds, utc=True)).tz_localize(None)
    return index if index.tz is None else index.tz_convert("UTC").tz_localize(None)


def to_input(series: SeriesIn) -> SeriesInput:
    ds = utc_index(series.ds)
    return SeriesInput(series.unique_id, ds, np.asarray(series.y, dtype=np.float64),
                       {k: np.asarray(v, dtype=np.float64) for k, v in series.covariates.items()},
                       dict(series.static))


def freeze_heap() -> None:
    """Move everything alive now (libraries, the model) out of the garbage collector's reach.

    The worker holds ~700k long-lived objects (torch, pandas, MLflow, BentoML). Each full
    collection walked all of them: a 300 ms pause every few seconds under load, which every
    request in flight waited out (it was the whole p99 at concurrency 32). Unfreezing first
    lets the one collection here free a replaced model even where it sits in a cycle.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def run_forward(loaded: LoadedModel, items: Sequence[SeriesInput]) -> list[SeriesForecast]:
    """One forward pass over every queued series (the batcher calls this in a thread).

    Each series passed `check_series` in its request handler, before it was queued."""
    return loaded.model.predict_series(list(items), checked=True)


@bentoml.service(
    name="forecaster",
    workers=int(os.environ.get("FORECAST_WORKERS", "1")),
    traffic={"timeout": 60, "max_concurrency": 512},
)
class Forecaster:
    """Serves `models:/{FORECAST_MODEL_NAME}@{FORECAST_MODEL_ALIAS}` from the MLflow registry."""

    def __init__(self) -> None:
        self.settings = ServiceSettings.from_env()
        torch.set_num_threads(self.settings.torch_threads)
        self.source = ModelSource(self.settings.model_name, self.settings.model_alias,
                                  self.settings.cache_dir)
        log.info("tracking URI %s", mlflow.get_tracking_uri())
        self.loaded: LoadedModel | None = self.source.load_initial()
        self.reload_lock = threading.Lock()
        self.batcher = MicroBatcher(run_forward, self.settings.max_batch_size,
                                    self.settings.max_wait_ms)
        if self.settings.poll_seconds > 0:
            threading.Thread(target=self._poll, daemon=True, name="alias-poller").start()
        freeze_heap()

    def __is_ready__(self) -> bool:
        return self.loaded is not None

    # ---- reload ---------------------------------------------------------------------
    def _poll(self) -> None:
        stop = threading.Event()
        while not stop.wait(self.settings.poll_seconds):
            result = self.reload_now()
            if result.status != "unchanged":
                log.info("alias poll: %s", result.detail)

    def reload_now(self) -> ReloadResponse:
        """Re-resolve the alias; swap only after the new version loaded and predicted."""
        with self.reload_lock:
            current = self.loaded.version if self.loaded else None
            try:
                version, run_id = self.source.resolve_version()
            except Exception as err:  # noqa: BLE001 - registry down: keep serving
                return ReloadResponse(status="refused", version=current,
                                      detail=f"registry unavailable: {str(err)[:300]}")
            if self.loaded and version == current and self.loaded.source == "registry":
                return ReloadResponse(status="unchanged", version=current,
                                      detail=f"{self.source.alias} is still v{version}")
            try:
                candidate = self.source.load_from_registry(version, run_id)
            except Exception as err:  # noqa: BLE001 - a broken version never replaces a good one
                log.error("refused v%s: %s", version, err)
                return ReloadResponse(status="refused", version=current,
                                      detail=f"v{version} failed to load or predict: "
                                             f"{str(err)[:300]}")
            self.loaded = candidate  # atomic swap: in-flight requests keep their reference
            freeze_heap()
            log.info("now serving %s v%s", candidate.name, version)
            return ReloadResponse(status="loaded", version=version,
                                  detail=f"serving v{version} (was v{current})")

    # ---- endpoints --------------------------------------------------------------------
    @bentoml.api(route="/predict")
    async def predict(self, series: list[SeriesIn], horizon: int | None = None,
                      quantiles: list[float] | None = None, explain: bool = False,
                      top_k: int = 10) -> PredictResponse:
        """Forecast every series; with explain, list the input timestamps that mattered most."""
        loaded = self.loaded
        if loaded is None:
            return error(503, f"no model loaded yet: waiting for "
                              f"{self.source.name}@{self.source.alias} in the registry")
        model = loaded.model
        if not series:
            return error(422, "expected at least one series", "series")
        if len(series) > self.settings.max_series:
            return error(413, f"{len(series)} series exceed the limit of "
                              f"{self.settings.max_series} per request", "series")
        for i, s in enumerate(series):
            if len(s.y) > self.settings.max_points:
                return error(413, f"{len(s.y)} points exceed the limit of "
                                  f"{self.settings.max_points} per series", f"series[{i}].y")
        try:
            steps = model.check_horizon(horizon)
        except DataValidationError as err:
            return error(422, str(err), "horizon")
        wanted = quantiles if quantiles is not None else model.quantiles
        unknown = [q for q in wanted if q not in model.quantiles]
        if unknown:
            return error(422, f"quantiles {unknown} are not served; this model has "
                              f"{model.quantiles or 'none (point forecasts)'}", "quantiles")
        if not 1 <= top_k <= 500:
            return error(422, "top_k must be between 1 and 500", "top_k")
        items = []
        for i, s in enumerate(series):
            try:
                item = to_input(s)
                check_series(item, model.spec, model.lookback, model.horizon)
            except DataValidationError as err:
                return error(422, str(err), field_of(err, i))
            except (ValueError, TypeError) as err:
                return error(422, f"series {i}: {err}", f"series[{i}]")
            items.append(item)
        forecasts = await self.batcher.submit(loaded, items)
        explanations = (await asyncio.to_thread(model.explain, items, top_k)
                        if explain else [None] * len(items))
        point = point_index(model.quantiles)
        out = []
        for f, e in zip(forecasts, explanations, strict=True):
            qs = {quantile_label(q): f.values[:steps, model.quantiles.index(q)].tolist()
                  for q in wanted}
            out.append(ForecastOut(
                unique_id=f.unique_id, ds=list(f.ds[:steps].to_pydatetime()),
                mean=f.values[:steps, point].tolist(), quantiles=qs,
                explanation=InputImportance(method=e.method,
                                            ds=[d.to_pydatetime() for d in e.ds],
                                            weight=e.weight) if e else None))
        return PredictResponse(model=ModelRef(name=loaded.name, version=loaded.version,
                                              alias=loaded.alias,
                                              architecture=loaded.architecture),
                               forecasts=out)

    @bentoml.api(route="/reload")
    async def reload(self) -> ReloadResponse:
        """Re-resolve the alias and swap the model without dropping requests."""
        return await asyncio.to_thread(self.reload_now)

    def model_info(self) -> ModelInfo | None:
        loaded = self.loaded
        if loaded is None:
            return None
        m, spec = loaded.model, loaded.model.spec
        return ModelInfo(
            name=loaded.name, version=loaded.version, alias=loaded.alias,
            architecture=loaded.architecture, run_id=loaded.run_id, source=loaded.source,
            metrics=m.metrics, lookback=m.lookback, horizon=m.horizon, freq=spec.freq,
            quantiles=m.quantiles,
            covariates={"past": list(spec.past_covariates),
                        "future": list(spec.future_covariates),
                        "static": list(spec.static_covariates)})


@info_app.get("/docs", include_in_schema=False)
def docs_redirect() -> RedirectResponse:
    """BentoML serves Swagger UI at / and the OpenAPI document at /docs.json."""
    return RedirectResponse("/")


@info_app.get("/model", response_model=ModelInfo)
def get_model():
    """What is loaded: name, version, run id, metrics, lookback, horizon, freq, covariates."""
    info = bentoml.get_current_service().model_info()
    if info is None:
        return error(503, "no model loaded yet")
    return info


Forecaster.mount_asgi_app(info_app, path="/")
Forecaster.add_asgi_middleware(ForecastGuard)
