"""Continued training: `forecast train --init-from models:/NAME@ALIAS --data NEW` starts from
a registered version's weights and configuration on newer data (the scaler's statistics and
the calibration refreshed on the new training and validation parts, a short budget unless
set), logs the run and registers it through the usual champion gating on the new data's
test window. `forecast retrain --when degraded` does this only when the champion's live
status says so, for a scheduler to call every day."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from forecast import Ensemble, ForecastConfig, Forecaster, Predictor, load_model
from forecast.config import apply_overrides, build_config
from forecast.datamodule import PreparedData
from forecast.ensemble import fit_ensembles
from forecast.errors import ConfigError
from forecast.forecaster import refit_validation
from forecast.monitoring import StatusRule
from forecast.monitoring.status import DEGRADED
from forecast.training import check_warm_start

from .bundle import now_ms
from .mlflow_run import log_bundle, log_pyfunc
from .promotion import GatingRule, PromotionDecision, register_and_gate
from .registry import download_model_dir, version_by_alias
from .tracking import connect, ensure_experiment
from .train import TrackingFailedError, bundle_of, train_model

CONTINUE_EPOCHS = 5  # the short budget of continued training, unless trainer.max_epochs is set
REFIT_KEYS = ("val_size", "test_size", "window_step")  # fitted to the new data's length


@dataclass
class ContinueResult:
    run_id: str
    init_version: str
    name: str  # the continued model's: its family, or ensemble_<method>
    metrics: dict[str, float]
    decision: PromotionDecision


def load_init(model_uri: str) -> Predictor | Ensemble:
    try:
        return load_model(download_model_dir(model_uri))
    except Exception as err:  # noqa: BLE001 - MLflow's many ways to say 'not found'
        raise ConfigError(f"--init-from {model_uri}: cannot load it ({type(err).__name__}: "
                          f"{str(err)[:200]})") from None


def continued_config(init: Predictor | Ensemble, data: str | None, overrides: list[str]) -> ForecastConfig:
    """The version's own training configuration, on `data`, with a short budget; the split
    sizes are fitted to the new data; `overrides` (--set) last."""
    values = copy.deepcopy(dict(init.training_config))
    if not values:
        raise ConfigError("the version has no training configuration (saved before format 2); "
                          "train a new model instead")
    if data is not None:  # else the data the version trained on
        values.setdefault("data", {})["path"] = data
    for key in REFIT_KEYS:
        values["data"][key] = None
    values.setdefault("trainer", {})["max_epochs"] = CONTINUE_EPOCHS
    return build_config(apply_overrides(values, overrides))


def member_config(config: ForecastConfig, member: Predictor) -> ForecastConfig:
    """`config` for continuing `member`: its family, and as many network copies as it has
    (a version saved before `model.copies` has one, where its family's default may now be
    more) unless `--set model.copies=N` asked for a number, which must then match."""
    named = config.with_model(member.name)
    if config.model.copies is None and named.model.network_copies != member.copies:
        named = named.with_values({"model.copies": member.copies})
    return named


def run_continue(config: ForecastConfig, prepared: PreparedData, init: Predictor | Ensemble,
                 init_uri: str) -> ContinueResult:
    """Train from `init` on `prepared` (checked already), log, register and gate. An
    ensemble continues member by member and is formed again with its method (its weights
    chosen anew on the new validation part)."""
    members = init.members if isinstance(init, Ensemble) else (init,)
    for member in members:  # before the tracking store
        check_warm_start(member, member_config(config, member), prepared.panel.spec)
    client = connect()
    experiment_id = ensure_experiment(client, config.tracking.experiment)
    if isinstance(init, Ensemble):
        forecaster, bundle = continue_ensemble(config, prepared, init)
    else:
        forecaster, bundle = train_model(member_config(config, init), prepared,
                                         with_backtest=True, init=init)
    try:
        run_id = log_bundle(bundle, experiment_id, run_name=f"{forecaster.name} (continued)",
                            frame=prepared.frame)
        client.set_tag(run_id, "forecast.init_from", init_uri)
        model_uri, model_id = log_pyfunc(run_id, bundle / "model")
        decision = register_and_gate(
            client, model_uri, model_id, run_id, config.tracking.registered_model,
            config.tracking.alias, GatingRule.of(config.tracking), forecaster.metrics, prepared,
            extra_tags={"architecture": forecaster.name, "init_from": init_uri})
    except Exception as err:  # noqa: BLE001 - the bundle stays on disk for `forecast log-run`
        raise TrackingFailedError([bundle], err) from err
    return ContinueResult(run_id, init_uri, forecaster.name, forecaster.metrics, decision)


def continue_ensemble(config: ForecastConfig, prepared: PreparedData, init: Ensemble
                      ) -> tuple[Forecaster, Path]:
    """Each member trained on from its weights, then the ensemble formed again (a baseline
    member a candidate again, as when it was first formed)."""
    started = now_ms()
    trained = [Forecaster(config=member_config(config, m)).fit(prepared=prepared, init=m)
               for m in init.members]
    ensemble = fit_ensembles([f.predictor for f in trained], [init.method], prepared,
                             refit_validation(trained))[0]
    forecaster = Forecaster.from_predictor(ensemble, prepared)
    return forecaster, bundle_of(forecaster, True, started)


def champion_status(config: ForecastConfig, window_days: float, rule: StatusRule,
                    log_url: str | None = None) -> tuple[str, list[str], str]:
    """The live status of the version behind the alias: (status, reasons, version)."""
    from .monitoring import open_log, version_reports

    client = connect()
    name, alias = config.tracking.registered_model, config.tracking.alias
    current = version_by_alias(client, name, alias)
    if current is None:
        raise ConfigError(f"no version of '{name}' holds the alias '{alias}': nothing to "
                          "retrain; run `forecast compare` first")
    reports = version_reports(client, open_log(log_url), name, alias, window_days, rule)
    mine = next((r for r in reports if r.version == current.version), None)
    if mine is None:
        return "insufficient data", ["no logged forecasts of this version"], current.version
    return mine.status, mine.reasons, current.version


def should_retrain(when: str, status: str) -> bool:
    return when == "always" or status == DEGRADED
