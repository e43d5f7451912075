"""Every service setting, read from the environment once (the same variables everywhere)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from forecast.monitoring.adaptive import DEFAULT_RATES, RATES_VARIABLE, parse_rates
from forecast.monitoring.status import StatusRule


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _on(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() not in ("0", "off", "false", "no")


def default_log_url() -> str:
    """A SQLite file beside the service's model cache: no server to start."""
    cache = Path(os.environ.get("FORECAST_CACHE_DIR", ".forecast/service-cache"))
    cache.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(cache.parent / 'forecast_log.db').resolve()}"


@dataclass(frozen=True)
class ServiceSettings:
    model_name: str
    model_alias: str
    api_key: str | None
    cache_dir: Path
    workers: int
    max_series: int
    max_points: int
    max_request_points: int
    max_body_bytes: int
    registry_timeout_s: int
    registry_retries: int
    max_batch_size: int
    max_wait_ms: float
    poll_seconds: int
    torch_threads: int
    max_concurrency: int = 512
    body_timeout_s: float = 10.0
    body_min_rate: int = 16384
    header_timeout_s: float = 10.0
    large_body_bytes: int = 1024 * 1024
    large_body_rate: int = 8 * 1024 * 1024
    explain_concurrency: int = 1
    switch_interval_ms: float = 1.0
    max_explain_series: int = 32
    log_enabled: bool = True
    log_url: str = "sqlite:///.forecast/forecast_log.db"
    log_queue: int = 2000
    log_retention_days: float = 90.0
    monitor_window_days: float = 28.0
    adaptive: bool = True
    adaptive_rates: tuple[float, ...] = DEFAULT_RATES
    status_rule: StatusRule = field(default_factory=StatusRule)

    @classmethod
    def from_env(cls) -> ServiceSettings:
        workers = _int("FORECAST_WORKERS", 1)
        return cls(
            model_name=os.environ.get("FORECAST_MODEL_NAME", "forecaster"),
            model_alias=os.environ.get("FORECAST_MODEL_ALIAS", "champion"),
            api_key=os.environ.get("FORECAST_API_KEY") or None,
            cache_dir=Path(os.environ.get("FORECAST_CACHE_DIR", ".forecast/service-cache")),
            workers=workers,
            max_series=_int("FORECAST_MAX_SERIES", 256),
            max_points=_int("FORECAST_MAX_POINTS", 20_000),
            max_request_points=_int("FORECAST_MAX_REQUEST_POINTS", 1_000_000),
            max_body_bytes=_int("FORECAST_MAX_BODY_BYTES", 32 * 1024 * 1024),
            # the service's own bounds on registry calls: MLflow's defaults (7 retries with
            # backoff) kept start-up blocked for minutes while the registry was down
            registry_timeout_s=_int("FORECAST_REGISTRY_TIMEOUT", 5),
            registry_retries=_int("FORECAST_REGISTRY_RETRIES", 1),
            max_batch_size=_int("FORECAST_MAX_BATCH_SIZE", 64),
            max_wait_ms=float(os.environ.get("FORECAST_MAX_WAIT_MS", 0)),
            poll_seconds=_int("FORECAST_POLL_SECONDS", 0),
            # one core per worker stays free for its event loop (HTTP, JSON, validation):
            # torch's spinning threads on every core made batch-1 latency 10x worse
            torch_threads=_int("FORECAST_TORCH_THREADS",
                               max(1, (os.cpu_count() or 1) // max(workers, 1) - 1)),
            # hostile clients: requests in the service at once (429 beyond), bodies that arrive
            # too slowly (408), headers that never end (the connection is closed), and
            # explanations, which cost ~50x a forecast, with their own bounds
            max_concurrency=_int("FORECAST_MAX_CONCURRENCY", 512),
            body_timeout_s=_float("FORECAST_BODY_TIMEOUT", 10.0),
            body_min_rate=_int("FORECAST_BODY_MIN_RATE", 16384),
            header_timeout_s=_float("FORECAST_HEADER_TIMEOUT", 10.0),
            large_body_bytes=_int("FORECAST_LARGE_BODY_BYTES", 1024 * 1024),
            large_body_rate=_int("FORECAST_LARGE_BODY_RATE", 8 * 1024 * 1024),
            explain_concurrency=_int("FORECAST_EXPLAIN_CONCURRENCY", 1),
            switch_interval_ms=_float("FORECAST_SWITCH_INTERVAL_MS", 1.0),
            max_explain_series=_int("FORECAST_MAX_EXPLAIN_SERIES", 32),
            # after deployment: the forecast log, live scores, adaptive intervals
            log_enabled=_on("FORECAST_LOG", True),
            log_url=os.environ.get("FORECAST_LOG_URL") or default_log_url(),
            log_queue=_int("FORECAST_LOG_QUEUE", 2000),  # requests' records waiting to be stored
            log_retention_days=_float("FORECAST_LOG_RETENTION_DAYS", 90.0),
            monitor_window_days=_float("FORECAST_MONITOR_WINDOW_DAYS", 28.0),
            adaptive=_on("FORECAST_ADAPTIVE", True),
            adaptive_rates=parse_rates(os.environ.get(RATES_VARIABLE)),
            status_rule=StatusRule.from_env(),
        )

    def bound_registry_calls(self, retries: int | None = None) -> None:
        """Make MLflow's HTTP client in this process use the service's registry bounds
        (`retries`: instead of FORECAST_REGISTRY_RETRIES, as at start-up)."""
        retries = self.registry_retries if retries is None else retries
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(self.registry_timeout_s)
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(retries)
        os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
        os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"] = "0"
