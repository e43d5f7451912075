"""Part 4: where a Transformer trained on vic_elec looks, as lags in hours."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forecast.data.timegrid import hours_per_step
from forecast.evaluation import split_windows
from forecast.study.attention import lag_profile, mean_attention
from forecast.windows import window_loader

from .real import fit
from .settings import StudySettings

MAP, META = "study_attention.csv", "study_attention.json"


@dataclass
class AttentionResult:
    attention: np.ndarray  # (N, N) mean attention, queries on rows
    patch_len: int  # steps per token
    step_hours: float  # hours per step of the data

    @property
    def lags(self) -> dict[int, float]:
        """Attention of the most recent token, keyed by lag in steps."""
        return lag_profile(self.attention, self.patch_len)

    def hours(self, lag: int) -> float:
        return lag * self.step_hours

    def steps(self, hours: float) -> int:
        return round(hours / self.step_hours)

    def top(self, k: int) -> list[tuple[int, float]]:
        return sorted(self.lags.items(), key=lambda kv: -kv[1])[:k]

    def save(self, folder: Path) -> list[Path]:
        np.savetxt(folder / MAP, self.attention, delimiter=",", fmt="%.6g")
        (folder / META).write_text(json.dumps({"patch_len": self.patch_len,
                                               "step_hours": self.step_hours}, indent=2))
        return [folder / MAP, folder / META]


def run(settings: StudySettings, progress) -> AttentionResult:
    s = settings.attention
    progress("[study] attention maps on vic_elec")
    model = fit(s.config, ["model.name=transformer", "data.lookback=336",
                           f"model.transformer.patch_len={s.patch_len}", *s.overrides])
    windows = split_windows(model.predictor, model.prepared, "test")
    batch = next(iter(window_loader(windows, s.windows)))
    return AttentionResult(mean_attention(model.network, batch), s.patch_len,
                           hours_per_step(model.predictor.spec.freq))


def load(folder: Path, settings: StudySettings) -> AttentionResult:
    meta = json.loads((folder / META).read_text())
    return AttentionResult(np.loadtxt(folder / MAP, delimiter=","), meta["patch_len"],
                           meta["step_hours"])
