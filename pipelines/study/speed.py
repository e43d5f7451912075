"""Part 1: time and memory of each family against lookback, at matched parameter counts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from forecast.models import ModelDims
from forecast.study.probe import probe_in_subprocess
from forecast.study.profiling import (
    FAMILIES,
    count_parameters,
    growth_exponent,
    matched_model,
    thread_speedup,
)

from ..tables import read_saved_table
from .settings import StudySettings

TABLE, EXPONENTS = "study_speed.csv", "study_exponents.json"


@dataclass
class SpeedResult:
    table: pd.DataFrame  # one row per family and lookback
    exponents: dict[str, dict[str, float]]  # family -> growth exponent per metric

    @property
    def infer_batch(self) -> int:
        sizes = [int(c.rsplit("batch", 1)[1]) for c in self.table.columns
                 if c.startswith("infer_ms_batch")]
        return max(sizes)

    def save(self, folder: Path) -> list[Path]:
        self.table.to_csv(folder / TABLE, index=False)
        (folder / EXPONENTS).write_text(json.dumps(self.exponents, indent=2))
        return [folder / TABLE, folder / EXPONENTS]


def run(settings: StudySettings, progress) -> SpeedResult:
    s, rows = settings.speed, []
    for lookback in s.lookbacks:
        dims = ModelDims(lookback, s.horizon, s.n_features, 0, 0, 1)
        for family in FAMILIES:
            model, hidden = matched_model(family, dims, s.width, s.patch_len)
            progress(f"[study] speed {family} lookback {lookback}")
            spec = {"family": family, "lookback": lookback, "horizon": s.horizon,
                    "n_features": s.n_features, "width": s.width, "patch_len": s.patch_len,
                    "hidden": hidden, "train_batch": s.train_batch,
                    "infer_batch": s.infer_batch, "repeats": s.repeats}
            rows.append({"family": family, "lookback": lookback,
                         "parameters": count_parameters(model), **probe_in_subprocess(spec)})
    table = pd.DataFrame(rows)
    exponents = {
        family: {metric: growth_exponent(list(g["lookback"]), list(g[metric]))
                 for metric in ("train_ms_per_sample", "infer_ms_batch1",
                                f"infer_ms_batch{s.infer_batch}", "train_peak_mb")}
        for family, g in table.groupby("family")}
    dims = ModelDims(s.thread_lookback, s.horizon, s.n_features, 0, 0, 1)
    for family in FAMILIES:
        model, _ = matched_model(family, dims, s.width, s.patch_len)
        exponents[family]["thread_speedup_batch1"] = thread_speedup(model, dims, s.repeats)
    return SpeedResult(table, exponents)


def load(folder: Path, settings: StudySettings) -> SpeedResult:
    return SpeedResult(read_saved_table(folder / TABLE), json.loads((folder / EXPONENTS).read_text()))
