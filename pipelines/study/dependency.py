"""Part 2: reproduce a value seen d steps ago, and the input gradient at each distance."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from forecast.config import TrainerSettings
from forecast.models import ModelDims
from forecast.module import ForecastModule
from forecast.study.gradients import input_gradient_by_distance
from forecast.study.profiling import matched_model
from forecast.study.synthetic import DependencyData, dependency_length, make_dependency_batch
from forecast.training import fit_module

from ..tables import read_saved_table
from .settings import DependencySettings, StudySettings

TABLE, GRADIENTS = "study_dependency.csv", "study_gradients.csv"


@dataclass
class DependencyResult:
    table: pd.DataFrame  # family, distance, nmse, seconds
    gradients: dict[str, np.ndarray]  # family -> |d out / d input| by distance (index 0: NaN)

    def save(self, folder: Path) -> list[Path]:
        self.table.to_csv(folder / TABLE, index=False)
        pd.DataFrame(self.gradients).rename_axis("distance").to_csv(folder / GRADIENTS)
        return [folder / TABLE, folder / GRADIENTS]


def dependency_model(family: str, distance: int, s: DependencySettings):
    dims = ModelDims(dependency_length(distance), 1, 2, 0, 0, 1)
    # no instance normalisation: the target is one raw input value, not a level to restore
    return matched_model(family, dims, s.width, s.patch_len)[0]


def train_dependency(family: str, distance: int, s: DependencySettings, seed: int) -> float:
    """Train on fresh batches, return test MSE / target variance (1.0 = learned nothing)."""
    torch.manual_seed(seed)
    model = dependency_model(family, distance, s)
    module = ForecastModule(model, [], learning_rate=s.learning_rate, weight_decay=0.0,
                            max_epochs=1)
    trainer = TrainerSettings(max_epochs=1, learning_rate=s.learning_rate, weight_decay=0.0,
                              patience=1, seed=seed, enable_progress_bar=False)
    fit_module(module, DependencyData(distance, s.batch_size, s.steps, seed), trainer)
    test = make_dependency_batch(s.n_test, distance, torch.Generator().manual_seed(seed + 999))
    model.eval()
    with torch.inference_mode():
        pred = model(test)[:, 0, 0]
    target = test["target"][:, 0]
    return float(((pred - target) ** 2).mean() / target.var())


def run(settings: StudySettings, progress) -> DependencyResult:
    s, seed, rows = settings.dependency, settings.seed, []
    for family in s.families:
        for distance in s.distances:
            progress(f"[study] dependency {family} d={distance}")
            start = time.perf_counter()
            nmse = train_dependency(family, distance, s, seed)
            rows.append({"family": family, "distance": distance, "nmse": nmse,
                         "seconds": time.perf_counter() - start})
    profiles = {}
    for family in s.families:
        runs = []
        for k in range(s.gradient_seeds):
            torch.manual_seed(seed + k)
            model = dependency_model(family, s.gradient_length - 16, s)
            batch = make_dependency_batch(16, s.gradient_length - 16,
                                          torch.Generator().manual_seed(k))
            runs.append(input_gradient_by_distance(model, batch))
        profiles[family] = np.stack(runs).mean(axis=0)  # index 0 (no input) stays NaN
    return DependencyResult(pd.DataFrame(rows), profiles)


def load(folder: Path, settings: StudySettings) -> DependencyResult:
    gradients = read_saved_table(folder / GRADIENTS, index_col="distance")
    return DependencyResult(read_saved_table(folder / TABLE),
                            {c: gradients[c].to_numpy() for c in gradients.columns})
