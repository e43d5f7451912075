"""`forecast train`: fit one model, keep its bundle on disk, log it as an MLflow run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lightning.pytorch.callbacks import Callback

from forecast import ForecastConfig, Forecaster, Predictor
from forecast.datamodule import PreparedData, prepare
from forecast.errors import ForecastError
from forecast.training import is_global_zero

from .bundle import bundle_experiment, now_ms, write_bundle
from .mlflow_run import close_abandoned_runs, log_bundle
from .tracking import connect, ensure_experiment


class TrackingFailedError(ForecastError):
    """Training finished but logging did not; the bundle on disk is the way back."""

    def __init__(self, bundles: list[Path], cause: Exception):
        self.bundles = bundles
        listing = "\n  ".join(f"forecast log-run {b}" for b in bundles)
        super().__init__(
            f"logging to MLflow failed ({type(cause).__name__}: {str(cause)[:300]}).\n"
            f"The trained model(s) are kept on disk; log them once the server is back with:\n"
            f"  {listing}"
        )


@dataclass
class TrainResult:
    run_id: str
    bundle: Path
    metrics: dict[str, float]


def train_model(config: ForecastConfig, prepared: PreparedData | None = None,
                with_backtest: bool = False, callbacks: list[Callback] | None = None,
                init: Predictor | None = None) -> tuple[Forecaster, Path | None]:
    """Fit (from `init`'s weights, when given) and write the bundle; no MLflow involved. In
    the worker processes of a distributed run there is no bundle (None): rank 0 writes it."""
    started = now_ms()  # the MLflow run spans the training, not the seconds of logging
    forecaster = Forecaster(config=config).fit(prepared=prepared, callbacks=callbacks,
                                               init=init)
    if not is_global_zero():
        return forecaster, None
    return forecaster, bundle_of(forecaster, with_backtest, started)


def bundle_of(forecaster: Forecaster, with_backtest: bool, started_ms: int) -> Path:
    """The fitted forecaster's bundle, with its rolling-origin backtest when asked."""
    resolved = forecaster.config.backtest  # the step follows the horizon unless set
    backtest = (forecaster.backtest(resolved.n_windows, resolved.step)
                if with_backtest else None)
    return write_bundle(forecaster, backtest=backtest, started_ms=started_ms)


def run_train(config: ForecastConfig, callbacks: list[Callback] | None = None,
              prepared: PreparedData | None = None) -> TrainResult | None:
    """Train, keep the bundle, log it; None in a distributed run's worker processes. The data
    is checked (`prepare`) before the tracking store is touched."""
    if prepared is None:
        config, prepared = prepare(config)
    client = connect()  # fails fast, before any training, when the server is down
    experiment_id = ensure_experiment(client, config.tracking.experiment)
    forecaster, bundle = train_model(config, prepared, with_backtest=True, callbacks=callbacks)
    if bundle is None:
        return None
    try:
        run_id = log_bundle(bundle, experiment_id, frame=forecaster.prepared.frame)
    except Exception as err:  # noqa: BLE001 - any tracking failure keeps the bundle
        raise TrackingFailedError([bundle], err) from err
    return TrainResult(run_id, bundle, forecaster.metrics)


def run_log_bundle(directory: Path, experiment: str | None = None) -> str:
    """`forecast log-run DIR`: log a bundle kept after a tracking failure, to the experiment
    it was trained for (unless one is given). Runs the failed attempt left RUNNING are marked
    FAILED first, so the experiment shows one finished run and no ghost."""
    client = connect()
    close_abandoned_runs(client, directory)
    experiment = experiment or bundle_experiment(directory)
    return log_bundle(directory, ensure_experiment(client, experiment))
