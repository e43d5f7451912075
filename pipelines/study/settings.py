"""The study's settings: one section per part, read from a YAML preset or file."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from forecast.config import ConfigError
from forecast.study.profiling import FAMILIES


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpeedSettings(_Section):
    lookbacks: list[int] = [48, 96, 192, 336, 720, 1440, 2880]
    width: int = Field(32, description="Transformer d_model; RNN sizes are matched to it")
    patch_len: int = Field(24, description="steps per token of the patched Transformer")
    n_features: int = 4
    horizon: int = 48
    train_batch: int = 8
    infer_batch: int = Field(64, description="the large inference batch (batch 1 always runs)")
    repeats: int = 3
    thread_lookback: int = Field(720, description="lookback of the 1-vs-all-threads timing")


class DependencySettings(_Section):
    distances: list[int] = [8, 32, 128, 512, 1024]
    families: list[str] = list(FAMILIES)
    steps: int = Field(300, description="training batches, each freshly drawn")
    batch_size: int = 32
    learning_rate: float = 3e-3
    width: int = 32
    patch_len: int = 8
    n_test: int = 512
    gradient_length: int = Field(1040, description="lookback of the gradient-by-distance probe")
    gradient_seeds: int = 3


class RealSettings(_Section):
    lookbacks: list[int] = [48, 336, 672, 1344]
    models: list[str] = ["lstm", "gru", "transformer"]
    config: str = "quick"
    overrides: list[str] = Field(default_factory=list)


class AttentionSettings(_Section):
    config: str = "quick"
    patch_len: int = 6
    windows: int = 32
    overrides: list[str] = Field(default_factory=list)


class StudySettings(_Section):
    speed: SpeedSettings = Field(default_factory=SpeedSettings)
    dependency: DependencySettings = Field(default_factory=DependencySettings)
    real: RealSettings = Field(default_factory=RealSettings)
    attention: AttentionSettings = Field(default_factory=AttentionSettings)
    output_dir: str = "study-output"
    experiment: str = "study"
    seed: int = 0


def load_study_settings(path: Path) -> StudySettings:
    if not path.is_file():
        raise ConfigError(f"study config not found: {path}")
    try:
        return StudySettings.model_validate(yaml.safe_load(path.read_text()) or {})
    except Exception as err:  # pydantic ValidationError, YAML errors
        raise ConfigError(f"invalid study config {path}: {err}") from None
