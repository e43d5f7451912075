"""Part 3: accuracy of each family on vic_elec against lookback, beside seasonal_naive."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from forecast import Forecaster, load_config

from ..presets import config_path
from ..tables import read_saved_table
from .settings import StudySettings

TABLE, META = "study_real.csv", "study_real.json"


@dataclass
class RealResult:
    table: pd.DataFrame  # family, lookback, mae, mase, seconds
    yardstick: float  # seasonal_naive test MAE on the same windows
    freq: str  # of the data: lookbacks are in its steps

    def save(self, folder: Path) -> list[Path]:
        self.table.to_csv(folder / TABLE, index=False)
        (folder / META).write_text(json.dumps({"yardstick_mae": self.yardstick,
                                               "freq": self.freq}, indent=2))
        return [folder / TABLE, folder / META]


def fit(config: str, overrides: list[str]) -> Forecaster:
    """Train on the preset or file `config` through the library, quietly. One network per
    family (`model.copies=1`, unless the study's overrides ask for more): the study compares
    a recurrent network with an attention one, in error and in time, and a family's default
    copies would make that a comparison of ensembles of different sizes."""
    values = load_config(config_path(config), ["trainer.enable_progress_bar=false",
                                               "model.copies=1", *overrides])
    return Forecaster(config=values).fit()


def run(settings: StudySettings, progress) -> RealResult:
    s, rows = settings.real, []
    # the bar every family must clear: seasonal_naive, season one week, on the same windows
    baseline = fit(s.config, [*s.overrides, "model.name=seasonal_naive", "data.lookback=336",
                              "data.season=336"])
    for lookback in s.lookbacks:
        for name in s.models:
            progress(f"[study] vic_elec {name} lookback {lookback}")
            start = time.perf_counter()
            model = fit(s.config, [*s.overrides, f"data.lookback={lookback}", f"model.name={name}"])
            rows.append({"family": name, "lookback": lookback, "mae": model.metrics["mae"],
                         "mase": model.metrics["mase"],
                         "seconds": time.perf_counter() - start})
    return RealResult(pd.DataFrame(rows), baseline.metrics["mae"], baseline.predictor.spec.freq)


def load(folder: Path, settings: StudySettings) -> RealResult:
    meta = json.loads((folder / META).read_text())
    return RealResult(read_saved_table(folder / TABLE), meta["yardstick_mae"], meta["freq"])
