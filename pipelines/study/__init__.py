"""`forecast study`: measure the RNN-vs-attention claims on this machine and report them.

One module per part (speed, dependency, real, attention), each with `run(settings,
progress)` and `load(folder, settings)`; `report` writes the Markdown with figures.
"""

from __future__ import annotations

import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np

from forecast.config import ConfigError

from . import attention, dependency, real, speed
from .report import StudyResult, write_report
from .settings import StudySettings, load_study_settings

PARTS = {"speed": speed, "dependency": dependency, "real": real, "attention": attention}

__all__ = ["PARTS", "StudyResult", "StudySettings", "load_study_settings", "log_study",
           "run_study", "write_report"]


def load_saved_part(part: str, folder: Path, settings: StudySettings):
    try:
        return PARTS[part].load(folder, settings)
    except (OSError, KeyError, ValueError) as err:
        raise ConfigError(f"cannot reuse the '{part}' results in {folder}: {err}; "
                          f"run that part again") from None


def run_study(settings: StudySettings, progress=print, parts: tuple[str, ...] = tuple(PARTS),
              saved: Path | None = None) -> StudyResult:
    """Run the chosen parts; the others are read back from `saved` (a previous output)."""
    start = time.perf_counter()
    pl.seed_everything(settings.seed, verbose=False)
    # read the reused parts first, so a missing file fails before the expensive work
    results = {part: load_saved_part(part, saved or Path(settings.output_dir), settings)
               for part in PARTS if part not in parts}
    for part in parts:
        results[part] = PARTS[part].run(settings, progress)
    return StudyResult(**results, seconds=time.perf_counter() - start)


def log_study(result: StudyResult, settings: StudySettings) -> str:
    import mlflow

    from ..bundle import flatten
    from ..tracking import connect, ensure_experiment

    client = connect()
    experiment_id = ensure_experiment(client, settings.experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name="study") as run:
        mlflow.log_params(flatten(settings.model_dump()))
        for family, values in result.speed.exponents.items():
            mlflow.log_metrics({f"{family}_{k}": float(v) for k, v in values.items()
                                if np.isfinite(v)})
        for path in result.files:
            mlflow.log_artifact(str(path), artifact_path="study")
    return run.info.run_id
