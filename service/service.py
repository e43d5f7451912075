"""The BentoML service `Forecaster`: serves the model behind the registry alias over HTTP.

A thin class in the style of BentoML's examples: `__init__` loads the model once, each
endpoint is a typed method; request policy lives in `requests.py`, response building in
`schemas.py`, settings in `settings.py`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import bentoml
import mlflow
import torch
from fastapi import FastAPI
from pydantic import StrictBool, StrictFloat
from starlette.responses import RedirectResponse, Response

from forecast.inference import CheckedSeries, SeriesForecast
from pipelines.redaction import redact, redact_logs

from .batching import MicroBatcher
from .docs import describe
from .errors import quiet_client_errors
from .middleware import PUBLIC_ROUTES, ForecastGuard
from .model_source import LoadedModel, ModelSource
from .monitoring import LogUnavailableError, Monitor, MonitorSettings
from .requests import RequestError, actuals_frame, check_finite, utc_index, validate_request
from .schemas import (
    ActualsBody,
    ActualsIn,
    ActualsResponse,
    Horizon,
    ModelInfo,
    MonitoringResponse,
    NoBody,
    PredictIn,
    PredictResponse,
    ReloadResponse,
    SeriesIn,
    TopK,
)
from .server_patches import install as install_server_patches
from .settings import ServiceSettings
from .timeout import install as install_timeout

__all__ = ["ROUTES", "Forecaster", "freeze_heap", "utc_index"]

log = logging.getLogger("forecast.service")
install_timeout()
settings = ServiceSettings.from_env()
info_app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


def shorten_gil_turns(interval_s: float) -> None:
    """The event loop gives up the GIL at every system call and, while a thread computes
    (a forward pass, an explanation, a parse), waits up to the switch interval to get it
    back: 5 ms by default, many times per request. An explain flood made ordinary forecasts
    wait 140 ms that way (p50). Shorter turns keep the loop's waits short."""
    sys.setswitchinterval(interval_s)


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


def run_forward(loaded: LoadedModel, checked: Sequence[CheckedSeries]) -> list[SeriesForecast]:
    """One forward pass over every queued series (the batcher calls this in a thread)."""
    return loaded.predictor.forecast(list(checked))


# admission (FORECAST_MAX_CONCURRENCY) is ForecastGuard's, after a request's body arrived
@bentoml.service(name="forecaster", workers=settings.workers, traffic={"timeout": 60})
class Forecaster:
    """Serves `models:/{FORECAST_MODEL_NAME}@{FORECAST_MODEL_ALIAS}` from the MLflow registry."""

    def __init__(self) -> None:
        self.settings = settings
        redact_logs()
        quiet_client_errors()
        torch.set_num_threads(settings.torch_threads)
        shorten_gil_turns(settings.switch_interval_ms / 1000)
        self.source = ModelSource(settings.model_name, settings.model_alias, settings.cache_dir)
        log.info("tracking URI %s", redact(mlflow.get_tracking_uri()))
        # one try at start: when the registry does not answer, the cached copy serves at
        # once, and /reload or the alias poller (with retries) catch up later
        settings.bound_registry_calls(retries=0)
        self.loaded: LoadedModel | None = self.source.load_initial()
        settings.bound_registry_calls()
        self.reload_lock = threading.Lock()
        # reloads get a thread of their own (forecasts keep the default pool), and concurrent
        # /reload calls share the one in flight
        self.reload_executor = ThreadPoolExecutor(1, thread_name_prefix="reload")
        self.reload_in_flight: asyncio.Future | None = None
        # explanations cost ~50x a forecast: bounded apart, so forecasts keep their latency
        self.explaining = asyncio.Semaphore(settings.explain_concurrency)
        self.batcher = MicroBatcher(run_forward, settings.max_batch_size, settings.max_wait_ms)
        self.monitor = Monitor(MonitorSettings.of(settings))
        self._load_offsets(self.loaded)
        if settings.poll_seconds > 0:
            threading.Thread(target=self._poll, daemon=True, name="alias-poller").start()
        freeze_heap()

    def __is_ready__(self) -> bool:
        return self.loaded is not None

    def _load_offsets(self, loaded: LoadedModel | None) -> None:
        """The adaptive offsets the version learnt so far (none when the log is down)."""
        if loaded is None or not self.settings.adaptive:
            return
        try:
            self.monitor.refresh_offsets(loaded)
        except Exception as err:  # noqa: BLE001 - a log that is down costs no forecast
            log.warning("adaptive offsets not loaded: %s", redact(str(err)[:200]))

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
                                      detail=redact(f"registry unavailable: {str(err)[:300]}"))
            if self.loaded and version == current and self.loaded.source == "registry":
                return ReloadResponse(status="unchanged", version=current,
                                      detail=f"{self.source.alias} is still v{version}")
            try:
                candidate = self.source.load_from_registry(version, run_id)
            except Exception as err:  # noqa: BLE001 - a broken version never replaces a good one
                reason = redact(str(err)[:300])
                log.error("refused v%s: %s", version, reason)
                return ReloadResponse(status="refused", version=current,
                                      detail=f"v{version} failed to load or predict: {reason}")
            self._load_offsets(candidate)
            self.loaded = candidate  # atomic swap: in-flight requests keep their reference
            freeze_heap()
            log.info("now serving %s v%s", candidate.name, version)
            return ReloadResponse(status="loaded", version=version,
                                  detail=f"serving v{version} (was v{current})")

    # ---- endpoints --------------------------------------------------------------------
    @bentoml.api(route="/predict", input_spec=PredictIn)
    async def predict(self, series: list[SeriesIn], horizon: Horizon | None = None,
                      quantiles: list[StrictFloat] | None = None, explain: StrictBool = False,
                      top_k: TopK = 10) -> PredictResponse:
        """Forecast every series; with explain, list the input timestamps that mattered most."""
        loaded = self.loaded
        if loaded is None:
            return RequestError(503, f"no model loaded yet: waiting for {self.source.name}@"
                                     f"{self.source.alias} in the registry").response()
        if explain:
            # explanations cost ~50x a forecast in CPU and Python time: each explained
            # request runs whole in a lane of its own (validation, forward pass, attention,
            # encoding), off the event loop and out of the forecasts' shared batches, and
            # FORECAST_EXPLAIN_CONCURRENCY of them at once
            async with self.explaining:
                return await asyncio.to_thread(self._predict_explained, loaded, series,
                                               horizon, quantiles, top_k)
        try:
            request = validate_request(loaded.predictor, self.settings, series, horizon,
                                       quantiles)
            forecasts = await self.batcher.submit(loaded, request.checked)
            check_finite(forecasts)
        except RequestError as err:
            return err.response()
        forecasts = self.monitor.adapt(loaded, request.checked, forecasts)
        self.monitor.record(loaded, request.checked, forecasts, request.steps)
        return PredictResponse.of(loaded, forecasts, request.steps, request.quantiles, None)

    def _predict_explained(self, loaded: LoadedModel, series: list[SeriesIn],
                           horizon: int | None, quantiles: list[float] | None,
                           top_k: int) -> Response:
        """`predict` with explanations, in the calling thread; the answer already encoded."""
        try:
            request = validate_request(loaded.predictor, self.settings, series, horizon,
                                       quantiles, explain=True)
            forecasts = loaded.predictor.forecast(request.checked)
            check_finite(forecasts)
        except RequestError as err:
            return err.response()
        forecasts = self.monitor.adapt(loaded, request.checked, forecasts)
        explanations = loaded.predictor.explain(request.checked, top_k)
        self.monitor.record(loaded, request.checked, forecasts, request.steps)
        body = PredictResponse.of(loaded, forecasts, request.steps, request.quantiles,
                                  explanations)
        return Response(body.model_dump_json(), media_type="application/json")

    @bentoml.api(route="/actuals", input_spec=ActualsBody)
    async def actuals(self, series: list[ActualsIn]) -> ActualsResponse:
        """Record what happened (idempotent on unique_id and ds): scores the logged forecasts
        and moves the adaptive intervals; actuals no forecast targets are stored and counted."""
        try:
            frame = actuals_frame(series, self.settings)
        except RequestError as err:
            return err.response()
        try:
            result = await asyncio.to_thread(self.monitor.add_actuals, frame, self.loaded)
        except LogUnavailableError as err:
            return RequestError(503, f"the forecast log is unavailable: {err}").response()
        return ActualsResponse(received=result.received, matched=result.matched,
                               unmatched=result.unmatched)

    @bentoml.api(route="/reload", input_spec=NoBody)
    async def reload(self) -> ReloadResponse:
        """Re-resolve the alias and swap the model without dropping requests."""
        if self.reload_in_flight is None or self.reload_in_flight.done():
            loop = asyncio.get_running_loop()
            self.reload_in_flight = loop.run_in_executor(self.reload_executor, self.reload_now)
        return await asyncio.shield(self.reload_in_flight)

    def model_info(self) -> ModelInfo | None:
        loaded = self.loaded
        return ModelInfo.of(loaded, self.monitor.offsets_in_force(loaded)) if loaded else None


@info_app.get("/docs", include_in_schema=False)
def docs_redirect() -> RedirectResponse:
    """BentoML serves Swagger UI at / and the OpenAPI document at /docs.json."""
    return RedirectResponse("/")


@info_app.get("/model", response_model=ModelInfo, responses={503: {"description": "no model"}})
def get_model():
    """What is loaded: name, version, run id, metrics, lookback, horizon, freq, covariates."""
    info = bentoml.get_current_service().model_info()
    if info is None:
        return RequestError(503, "no model loaded yet").response()
    return info


@info_app.get("/monitoring", response_model=MonitoringResponse)
async def get_monitoring():
    """Live scores, status and drift per model version, from the forecast log."""
    service = bentoml.get_current_service()
    return await asyncio.to_thread(service.monitor.report, service.loaded)


# every path the service answers (its APIs, the mounted app's routes, the public ones);
# the metrics label all others `other`
ROUTES = frozenset({*PUBLIC_ROUTES, *(api.route for api in Forecaster.apis.values()),
                    *(route.path for route in info_app.routes)})

Forecaster.mount_asgi_app(info_app, path="/")
Forecaster.add_asgi_middleware(ForecastGuard, settings=settings)
describe(Forecaster)
install_server_patches(ROUTES, settings.header_timeout_s)
