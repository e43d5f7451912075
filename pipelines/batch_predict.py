"""`forecast predict --model`: batch scoring in this process, from a registered model or a
model directory, with a progress bar, an output file and an errors file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from forecast import Ensemble, Predictor, load_model
from forecast.artifacts import find_artifact
from forecast.batch import DS, ID, BatchResult, check_columns, needed_columns, score_frame
from forecast.config import DataSettings
from forecast.data.loading import read_data_file
from forecast.errors import ForecastError

from .history_file import read_history

PARQUET = (".parquet", ".pq")


@dataclass
class BatchPaths:
    data: Path
    output: Path
    errors: Path
    future: Path | None = None

    @classmethod
    def of(cls, data: str, output: str, errors: str | None, future: str | None) -> BatchPaths:
        out = Path(output)
        return cls(Path(data), out, Path(errors) if errors else
                   out.with_name(out.name.split(".")[0] + ".errors.csv"),
                   Path(future) if future else None)

    def refuse_overwrite(self, overwrite: bool) -> None:
        existing = [str(p) for p in (self.output, self.errors) if p.exists()]
        if existing and not overwrite:
            raise ForecastError(f"{', '.join(existing)} already exist(s); pass --overwrite to "
                                "replace")


def load_predictor(model: str) -> Predictor | Ensemble:
    """A model directory on disk, or an MLflow model URI (`models:/forecaster@champion`)."""
    if Path(model).exists():
        return load_model(find_artifact(model, model))
    from .registry import download_model_dir
    from .tracking import connect

    connect()  # fails fast, with the server named, when the registry is unreachable
    return load_model(download_model_dir(model))


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in PARQUET:
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def run_batch_predict(model: str, paths: BatchPaths, horizon: int | None = None,
                      overwrite: bool = False, batch_size: int = 512, log: bool = False,
                      log_url: str | None = None,
                      settings: DataSettings | None = None) -> BatchResult:
    """Check files and columns first, then score every series; the errors file lists each
    refused series with its reason (and is written, empty, when there are none). With
    `log`, the forecasts also go to the forecast log, to be scored when actuals arrive.
    `settings`: the data file's layout and column names (default: long, unique_id/ds/y);
    the future file is long."""
    paths.refuse_overwrite(overwrite)
    predictor = load_predictor(model)
    frame = read_history(paths.data, settings or DataSettings(), predictor.spec.covariates,
                         needed_columns(predictor))  # checks every column the model reads
    future = None
    if paths.future is not None:
        wanted = [ID, DS, *predictor.spec.future_covariates]
        future = read_data_file(paths.future, wanted)
        check_columns(list(future.columns), predictor, str(paths.future), future=True)
    n_series = frame[ID].nunique()  # read_history names every series, one-series files too
    columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("forecasting series", total=n_series)
        result = score_frame(predictor, frame, future, horizon, batch_size,
                             progress=lambda n: bar.advance(task, n))
    write_frame(result.forecasts, paths.output)
    write_frame(result.errors_frame, paths.errors)
    if log:
        from .monitoring import log_batch

        log_batch(predictor, model, frame, result.forecasts, log_url)
    return result
