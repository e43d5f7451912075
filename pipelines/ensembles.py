"""The ensembles `forecast compare` scores beside the families it trained.

Each is fitted on the members' validation windows (the weighted one may take in a
baseline there), scored on the same test windows as every family, and written as a bundle
of its own, so it is logged, compared and gated like any family; when it wins, the
registered artifact holds its members.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from forecast import ForecastConfig, Forecaster
from forecast.datamodule import PreparedData
from forecast.ensemble import fit_ensembles
from forecast.forecaster import refit_validation
from forecast.models import get_family

from .bundle import now_ms
from .train import bundle_of


def train_ensembles(config: ForecastConfig, trained: dict[str, Forecaster],
                    prepared: PreparedData, progress: Callable[[str], object] = print
                    ) -> dict[str, tuple[Forecaster, Path]]:
    """{name: (forecaster, bundle)} of each configured ensemble of the trained neural
    families; none when fewer than two were trained. The trained baselines are candidates of
    the weighted one (`ensemble_baselines`)."""
    predictors = [f.predictor for f in trained.values()
                  if config.ensemble_baselines or get_family(f.predictor.name).neural]
    members = [p for p in predictors if get_family(p.name).neural]
    if not config.ensembles or len(members) < 2:
        if config.ensembles:
            progress("[compare] no ensemble: it needs two or more neural families")
        return {}
    started = now_ms()
    names = ", ".join(m.name for m in members)
    progress(f"[compare] ensembles ({', '.join(config.ensembles)}) of {names}")
    result = {}
    for ensemble in fit_ensembles(predictors, config.ensembles, prepared,
                                  refit_validation(trained.values())):
        forecaster = Forecaster.from_predictor(ensemble, prepared)
        result[ensemble.name] = (forecaster, bundle_of(forecaster, True, started))
    return result
