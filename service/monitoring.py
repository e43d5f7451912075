"""The service's side of monitoring: every answered forecast goes to the forecast log off the
request path, actuals come in, adaptive offsets move the served quantiles, and live scores,
status and drift are computed for /monitoring and /metrics.

A log that is slow, full or down never costs a forecast: records wait in a bounded queue, a
writer thread stores them in batches, and what cannot be stored is dropped and counted
(`forecast_log_dropped_total`, and a warning at most once a minute).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from prometheus_client import Counter, Gauge

from forecast.inference import CheckedSeries, SeriesForecast
from forecast.monitoring import (
    AdaptiveOffsets,
    ForecastLog,
    ForecastRecord,
    StatusRule,
    assess,
    learn_offsets,
)
from pipelines.redaction import redact

from .model_source import LoadedModel
from .settings import ServiceSettings

log = logging.getLogger("forecast.service.monitoring")

DROPPED = Counter("forecast_log_dropped", "forecast records the log could not store "
                  "(queue full or database unavailable)")
LOGGED = Counter("forecast_log_written", "forecast records stored in the log")
LOG_UP = Gauge("forecast_log_available", "1 when the forecast log database answers",
               multiprocess_mode="mostrecent")
LIVE = Gauge("forecast_live_score", "live scores of the served model over the monitoring window",
             ["model", "version", "metric"], multiprocess_mode="mostrecent")
STATUS = Gauge("forecast_live_status", "1 for the current status of a model version (ok, "
               "degraded, insufficient data)", ["model", "version", "status"],
               multiprocess_mode="mostrecent")
DRIFTED = Gauge("forecast_drifted_series", "series whose recent actuals left their training "
                "level or spread", ["model", "version"], multiprocess_mode="mostrecent")
STATUSES = ("ok", "degraded", "insufficient data")
FLUSH_S = 1.0  # the writer stores what the requests queued once a second
OFFSET_REFRESH_S = 30  # how often a worker reads the offsets the others learnt
GAUGE_REFRESH_S = 600  # the live-score gauges' refresh when no actuals came to this worker


class LogUnavailableError(Exception):
    """The forecast log database cannot be reached (it is retried in the background)."""


@dataclass
class MonitorSettings:
    enabled: bool
    url: str
    queue_size: int
    retention_days: float
    window_days: float
    adaptive: bool
    adaptive_rates: tuple[float, ...]
    rule: StatusRule

    @classmethod
    def of(cls, settings: ServiceSettings) -> MonitorSettings:
        return cls(settings.log_enabled, settings.log_url, settings.log_queue,
                   settings.log_retention_days, settings.monitor_window_days,
                   settings.adaptive, settings.adaptive_rates, settings.status_rule)


class Monitor:
    """One per service worker: the log connection, the writer thread, the offsets in force."""

    def __init__(self, settings: MonitorSettings):
        self.settings = settings
        self.queue: queue.Queue[list[ForecastRecord]] = queue.Queue(settings.queue_size)
        self.store: ForecastLog | None = None
        self.error: str | None = None
        self.dropped = 0
        self._last_warning = 0.0
        self._offsets: dict[tuple[str, str], AdaptiveOffsets] = {}
        self._watched: LoadedModel | None = None  # the version this worker last served
        self._actuals_seen = False  # actuals arrived since the gauges were computed
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connect()
        threading.Thread(target=self._write_loop, daemon=True, name="forecast-log").start()

    # ---- the store ------------------------------------------------------------------
    def _connect(self) -> ForecastLog | None:
        if self.store is not None:
            return self.store
        try:
            self.store = ForecastLog(self.settings.url)
            self.error = None
            LOG_UP.set(1)
        except Exception as err:  # noqa: BLE001 - any failure: serve on, retry later
            self.error = redact(f"{type(err).__name__}: {str(err)[:300]}")
            LOG_UP.set(0)
        return self.store

    @property
    def available(self) -> bool:
        return self.store is not None and self.error is None

    def _require(self) -> ForecastLog:
        store = self._connect()
        if store is None:
            raise LogUnavailableError(self.error or "forecast log unavailable")
        return store

    def _failed(self, err: Exception, lost: int) -> None:
        self.error = redact(f"{type(err).__name__}: {str(err)[:300]}")
        LOG_UP.set(0)
        self._drop(lost)

    def _drop(self, n: int) -> None:
        self.dropped += n
        DROPPED.inc(n)
        now = time.monotonic()
        if now - self._last_warning > 60:
            self._last_warning = now
            log.warning("forecast log: dropped %d records so far (%s)", self.dropped,
                        self.error or "queue full")

    # ---- forecasts in ---------------------------------------------------------------
    def adapt(self, loaded: LoadedModel, checked: Sequence[CheckedSeries],
              forecasts: list[SeriesForecast]) -> list[SeriesForecast]:
        """The forecasts with the version's adaptive offsets applied to their quantiles."""
        if not self.settings.adaptive or not loaded.predictor.quantiles:
            return forecasts
        state = self._offsets.get((loaded.name, loaded.version))
        if state is None or not any(state.offsets.values()):
            return forecasts
        return [replace(f, values=state.apply(f.values, c.stats.y_std))
                for f, c in zip(forecasts, checked, strict=True)]

    def offsets_in_force(self, loaded: LoadedModel) -> dict[str, float]:
        if not self.settings.adaptive:
            return {}
        state = self._offsets.get((loaded.name, loaded.version))
        return state.by_label() if state else {}

    def record(self, loaded: LoadedModel, checked: Sequence[CheckedSeries],
               forecasts: list[SeriesForecast], steps: int) -> None:
        """Queue the answered forecasts for the log; never blocks, never raises."""
        if not self.settings.enabled:
            return
        predictor = loaded.predictor
        levels = tuple(predictor.quantiles)
        request_id = uuid.uuid4().hex
        self._watched = loaded
        records = [ForecastRecord(
            loaded.name, loaded.version, request_id, f.unique_id, c.item.ds[-1], f.ds[:steps],
            f.values[:steps, predictor.point], levels, f.values[:steps], c.stats.y_std,
            c.stats.mase_scale, c.stats.y_mean) for f, c in zip(forecasts, checked, strict=True)]
        try:
            self.queue.put_nowait(records)
        except queue.Full:
            self._drop(sum(len(r.ds) for r in records))

    def _write_loop(self) -> None:
        last_prune = last_refresh = last_report = 0.0
        while not self._stop.is_set():
            # scores change only when actuals arrive: recompute the gauges after this
            # worker's actuals, and at least every GAUGE_REFRESH_S for the other workers'
            stale = time.monotonic() - last_report > GAUGE_REFRESH_S
            if self._watched is not None and (self._actuals_seen or stale) and \
                    time.monotonic() - last_report > 5:
                last_report, self._actuals_seen = time.monotonic(), False
                with contextlib.suppress(Exception):
                    self.report(self._watched)
            if self._watched is not None and time.monotonic() - last_refresh > OFFSET_REFRESH_S:
                last_refresh = time.monotonic()  # offsets other workers learnt
                with contextlib.suppress(Exception):  # down: keep the offsets in hand
                    self.refresh_offsets(self._watched)
            # one transaction a second, whatever the request rate: the writer's work (and
            # its hold on the GIL) stays a small, steady share of the worker's time
            self._stop.wait(FLUSH_S)
            batch: list[ForecastRecord] = []
            with contextlib.suppress(queue.Empty):
                while len(batch) < 20_000:
                    batch += self.queue.get_nowait()
            if not batch:
                continue
            store = self._connect()
            if store is None:
                self._drop(sum(len(r.ds) for r in batch))
                continue
            try:
                LOGGED.inc(store.write_forecasts(batch))
                self.error = None
                LOG_UP.set(1)
            except Exception as err:  # noqa: BLE001 - locked, full, gone: drop and count
                self._failed(err, sum(len(r.ds) for r in batch))
            if time.monotonic() - last_prune > 3600:
                last_prune = time.monotonic()
                self._prune(store)

    def _prune(self, store: ForecastLog) -> None:
        try:
            store.prune(self.settings.retention_days)
        except Exception as err:  # noqa: BLE001 - retention is retried next hour
            log.warning("forecast log: pruning failed: %s", redact(str(err)[:200]))

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until the queue is empty (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while not self.queue.empty() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(FLUSH_S + 0.2)  # the batch in the writer's hands

    # ---- actuals in -----------------------------------------------------------------
    def add_actuals(self, frame: pd.DataFrame, loaded: LoadedModel | None):
        """Store actuals (idempotent), then move the served version's offsets by the
        forecasts they score for the first time."""
        store = self._require()
        try:
            result = store.add_actuals(frame)
        except Exception as err:  # noqa: BLE001
            self.error = redact(f"{type(err).__name__}: {str(err)[:300]}")
            raise LogUnavailableError(self.error) from None
        if loaded is not None and self.settings.adaptive and loaded.predictor.quantiles:
            self.refresh_offsets(loaded, learn=True)
        self._actuals_seen = True
        return result

    def refresh_offsets(self, loaded: LoadedModel, learn: bool = False) -> AdaptiveOffsets:
        """Read the version's offsets; with `learn`, first update them with the scored
        forecasts no update has used yet."""
        store = self._require()
        levels = tuple(loaded.predictor.quantiles)
        with self._lock:
            state = (learn_offsets(store, loaded.name, loaded.version, levels,
                                   self.settings.adaptive_rates) if learn
                     else store.offsets(loaded.name, loaded.version, levels,
                                        self.settings.adaptive_rates))
            self._offsets[(loaded.name, loaded.version)] = state
        return state

    # ---- scores out -----------------------------------------------------------------
    def report(self, loaded: LoadedModel | None) -> dict:
        """Live scores, status and drift per model version over the window (GET /monitoring)."""
        base = {"log": {"available": False, "error": self.error, "dropped": self.dropped,
                        "url": redact(self.settings.url)},
                "window_days": self.settings.window_days,
                "rule": self.settings.rule.describe(), "versions": []}
        if not self.settings.enabled:
            base["log"]["error"] = "the forecast log is off (FORECAST_LOG=off)"
            return base
        try:
            store = self._require()
            name = loaded.name if loaded else None
            versions = store.versions(name) if name else []
            reports = [self._version_report(store, name, v, loaded) for v in versions]
        except LogUnavailableError:
            return base
        except Exception as err:  # noqa: BLE001 - a log that broke mid-run
            self.error = redact(f"{type(err).__name__}: {str(err)[:300]}")
            return base
        base["log"].update(available=True, error=None)
        base["versions"] = reports
        return base

    def _version_report(self, store: ForecastLog, name: str, version: str,
                        loaded: LoadedModel | None) -> dict:
        serving = loaded is not None and loaded.version == version
        test_mae = loaded.predictor.metrics.get("mae") if serving else None
        verdict = assess(store.window(name, version, self.settings.window_days), test_mae,
                         self.settings.rule)
        scores, status, reasons, drift = (verdict.scores, verdict.status, verdict.reasons,
                                          verdict.drift)
        offsets = self._offsets.get((name, version))
        report = {
            "model": name, "version": version, "serving": serving, "status": status,
            "reasons": reasons, "test_mae": test_mae, "live": _clean(scores.overall),
            "by_step": _records(scores.by_step), "by_series": _records(scores.by_series),
            "drift": _records(drift),
            "adaptive_offsets": offsets.by_label() if offsets else {},
            "adaptive_trackers": offsets.trackers_by_label() if offsets else {},
        }
        for metric in ("mae", "mase", "coverage_80", "coverage_90", "width_80", "wql"):
            if metric in scores.overall:
                LIVE.labels(name, version, metric).set(scores.overall[metric])
        for each in STATUSES:
            STATUS.labels(name, version, each).set(1.0 if each == status else 0.0)
        DRIFTED.labels(name, version).set(int(drift["drifted"].sum()) if len(drift) else 0)
        return report


def _clean(values: dict) -> dict:
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
            for k, v in values.items()}


def _records(frame: pd.DataFrame) -> list[dict]:
    if frame is None or frame.empty:
        return []
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return [_clean(row) for row in out.to_dict("records")]
