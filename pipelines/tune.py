"""`forecast tune`: an Optuna study over one family's search space, on a database that any
number of `forecast tune` workers share; every trial is a nested MLflow run under one parent.

The search space lives beside each family (`ModelFamily.search_space`); trials are ranked and
pruned (Optuna's Lightning callback) on `tune.objective`, the validation loss or MAE; the
best configuration is written as a YAML that `forecast train --config` accepts.
"""

from __future__ import annotations

import itertools
import random
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import mlflow
import optuna
import yaml
from mlflow import MlflowClient
from optuna_integration import PyTorchLightningPruningCallback

from forecast import ForecastConfig, Forecaster
from forecast.datamodule import PreparedData, prepare, resolved_config
from forecast.errors import ConfigError, ForecastError
from forecast.models import tunable_names
from forecast.models.registry import Weighting

from .files import replaced_atomically
from .plots import save_figure
from .redaction import redact
from .tracking import connect, ensure_experiment

PARENT_ATTR = "mlflow_parent_run_id"
PARENT_LOCK_SUFFIX = ":parent-lock"  # a study whose name only one worker can create
PARENT_WAIT_S = 60.0
REGISTERED_SUFFIX = ":registered-trial-"  # created by the one worker that registers trial N
SUMMARISED_SUFFIX = ":summarised-trial-"  # created by the one worker that logs trial N's summary
RUNNING = optuna.trial.TrialState.RUNNING
# what SQLite and PostgreSQL say when two workers create the study schema at the same moment
SCHEMA_RACE = ("already exists", "UNIQUE constraint failed", "duplicate key")
SCHEMA_ATTEMPTS = 6
SURPLUS_ATTR = "surplus"  # a trial numbered past `tune.trials`: stopped before it ran
# trials that count towards `tune.trials` (enqueued ones still WAITING do not)
STARTED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
           optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING)
FINAL = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
         optuna.trial.TrialState.FAIL)


@dataclass
class TuneResult:
    study: str
    best_value: float
    best_trial: int
    best_config: Path
    parent_run_id: str
    trials: int
    registers: bool = False  # this worker is the one that registers the best trial


def open_storage(storage: str, grace_s: int = 60) -> optuna.storages.RDBStorage:
    """Connect to the study database; an unreachable one fails here, in seconds.

    Workers launched together on a new database all create its tables: the losers of that
    race retry once the winner's tables are there, instead of failing. Each running trial
    beats a heartbeat, so a worker that died is known `grace_s` later.
    """
    engine = {"pool_pre_ping": True}
    if storage.startswith("postgresql"):
        engine["connect_args"] = {"connect_timeout": 5}
    elif storage.startswith("sqlite"):  # workers and their heartbeats wait on each other's
        engine["connect_args"] = {"timeout": 30}  # writes, not fail after SQLite's 5 s
    heartbeat = {"heartbeat_interval": max(1, grace_s // 6), "grace_period": grace_s}
    for attempt in itertools.count(1):
        try:
            with optuna_experimental():  # heartbeats
                return optuna.storages.RDBStorage(storage, engine_kwargs=engine, **heartbeat)
        except Exception as err:  # noqa: BLE001 - SQLAlchemy and driver errors of every kind
            if attempt == SCHEMA_ATTEMPTS or not any(s in str(err) for s in SCHEMA_RACE):
                raise ForecastError(redact(f"tuning storage {storage} is unreachable: "
                                           f"{type(err).__name__}: {str(err)[:300]}")) from None
            time.sleep(0.1 * attempt + random.uniform(0, 0.2))  # jitter: not in step again


@contextmanager
def optuna_experimental():
    """Use an Optuna feature it marks experimental (heartbeats, plots) without the warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def claim(storage: optuna.storages.BaseStorage, name: str) -> bool:
    """True for the one worker that creates the study `name`: a study name is unique in the
    storage, so creating one is an election that exactly one worker wins."""
    try:
        optuna.create_study(study_name=name, storage=storage)
    except optuna.exceptions.DuplicatedStudyError:
        return False
    return True


def open_study(storage: optuna.storages.BaseStorage, name: str,
               config: ForecastConfig) -> optuna.Study:
    """Create the study, or join it when another worker has."""
    pruner = optuna.pruners.MedianPruner(n_startup_trials=config.tune.startup_trials,
                                         n_warmup_steps=config.tune.warmup_epochs)
    return optuna.create_study(study_name=name, storage=storage, direction="minimize",
                               load_if_exists=True, pruner=pruner)


def check_search_space(study: optuna.Study, config: ForecastConfig) -> None:
    """Refuse, before any run, to add trials to a study whose earlier trials drew from other
    choices: the space follows the data (patch lengths) and the config (the decoder), and a
    study's best would otherwise mix trials of different data. Optuna itself would only fail
    inside the first trial, or, where a setting is drawn under one config only (the seasonal
    input, with the aligned decoder), not at all: the best trial's values would then be
    written into a config they were never trained with."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" line
    try:
        probe = optuna.create_study(storage=optuna.storages.InMemoryStorage()).ask()
    finally:
        optuna.logging.set_verbosity(verbosity)
    tuned_values(probe, config)
    drawn = set(probe.distributions)
    for trial in study.get_trials(deepcopy=False):
        for name, earlier in trial.distributions.items():
            now = probe.distributions.get(name)
            if now is None:  # not drawn for this config: refused below, by name
                continue
            try:
                optuna.distributions.check_distribution_compatibility(earlier, now)
            except ValueError:
                raise ConfigError(
                    f"study '{study.study_name}' searched {name} over {drawn_from(earlier)}, "
                    f"and this data and config give {drawn_from(now)}: its trials were run on "
                    "other data or settings; name a new study with --study (tune.study)"
                ) from None
        # a running trial may still be drawing; a surplus one drew nothing
        if trial.state in FINAL and not surplus(trial) and set(trial.distributions) != drawn:
            raise ConfigError(
                f"study '{study.study_name}' searched {sorted(trial.distributions)}, and this "
                f"model and config search {sorted(drawn)}: its trials were run with another "
                "model or settings (the decoder decides whether seasonal_input is searched, "
                "tune.objective whether loss_weighting is); name a new study with --study "
                "(tune.study)")


def tuned_values(trial: optuna.Trial, config: ForecastConfig) -> dict[str, Any]:
    """A trial's draws: the family's search space, and with `tune.objective: val_mae` (which
    compares trials across weightings) how the panel's series share the loss."""
    values = config.model.family.search_space(trial, config)
    if config.tune.objective == "val_mae":
        values["model.loss_weighting"] = trial.suggest_categorical(
            "loss_weighting", list(get_args(Weighting)))
    return values


def drawn_from(distribution: optuna.distributions.BaseDistribution) -> object:
    """A distribution as a message shows it: its choices, or itself (a range)."""
    return getattr(distribution, "choices", distribution)


def parent_run(client: MlflowClient, experiment_id: str, study: optuna.Study,
               storage: optuna.storages.BaseStorage, wait_s: float = PARENT_WAIT_S) -> str:
    """The study's one parent run, however many workers start at the same moment.

    A study attribute is an upsert (the last write wins), so it cannot elect a creator by
    itself. A study name is unique in the storage: the worker that creates the lock study
    makes the parent run and stores its id; the others wait until the id is there.
    """
    if existing := study.user_attrs.get(PARENT_ATTR):
        return existing
    lock = f"{study.study_name}{PARENT_LOCK_SUFFIX}"
    if not claim(storage, lock):
        return await_parent(study, lock, wait_s)
    try:
        if existing := study.user_attrs.get(PARENT_ATTR):  # set and unlocked while we looked
            return existing
        run = client.create_run(experiment_id, run_name=f"tune-{study.study_name}",
                                tags={"optuna.study": study.study_name})
        study.set_user_attr(PARENT_ATTR, run.info.run_id)
        return run.info.run_id
    finally:
        optuna.delete_study(study_name=lock, storage=storage)


def await_parent(study: optuna.Study, lock: str, wait_s: float) -> str:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if existing := study.user_attrs.get(PARENT_ATTR):
            return existing
        time.sleep(0.2)
    raise ForecastError(f"another worker has been creating the MLflow parent run of study "
                        f"'{study.study_name}' for over {wait_s:.0f} s; if it died, delete "
                        f"the study '{lock}' from the storage and start again")


def await_other_workers(study: optuna.Study, progress, poll_s: float = 2.0) -> None:
    """Wait until no worker is running a trial, so that every worker reports the same best.

    A worker that died leaves its trial RUNNING with a stale heartbeat: Optuna fails it
    after the storage's grace period, and the wait ends.
    """
    told = None
    while True:
        with optuna_experimental():
            optuna.storages.fail_stale_trials(study)
        running = [t.number for t in study.get_trials(deepcopy=False, states=(RUNNING,))]
        if not running:
            return
        if running != told:
            progress(f"[tune] waiting for trials {running}, still running in other workers")
            told = running
        time.sleep(poll_s)


def claim_registration(storage: optuna.storages.BaseStorage, study: str, trial: int) -> bool:
    """True for the one worker that registers the study's best trial; the others skip it.

    The marker is a study named `STUDY:registered-trial-N`, created once and kept: a later
    run of the study with a new best trial registers that one.
    """
    return claim(storage, f"{study}{REGISTERED_SUFFIX}{trial}")


def summarise_once(storage: optuna.storages.BaseStorage, study: str,
                   best: optuna.trial.FrozenTrial, parent: str, files: list[Path]) -> bool:
    """Log the study's best trial to its parent run, from the one worker that claims it
    (True). Every worker knows the same best once all trials are done, but two of them
    setting the same tag in one instant collide in MLflow's store (its key is unique)."""
    if not claim(storage, f"{study}{SUMMARISED_SUFFIX}{best.number}"):
        return False
    log_summary(best, parent, files)
    return True


def objective_of(trial: optuna.trial.FrozenTrial) -> str:
    """What a trial's value is (`tune.objective`); trials from before it existed: the loss."""
    return trial.user_attrs.get("objective", "val_loss")


def write_history_plot(study: optuna.Study, path: Path) -> Path:
    with optuna_experimental():
        figure = optuna.visualization.matplotlib.plot_optimization_history(study).figure
    return save_figure(figure, path)


def log_summary(best: optuna.trial.FrozenTrial, parent: str, files: list[Path]) -> None:
    """The parent run's record of the study: best loss and trial, and `files` (the best
    config and the history plot) as artifacts."""
    with mlflow.start_run(run_id=parent):
        mlflow.log_metric(f"best_{objective_of(best)}", best.value)
        mlflow.set_tag("best_trial", str(best.number))
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="tuning")


def surplus(trial: optuna.trial.FrozenTrial) -> bool:
    return bool(trial.user_attrs.get(SURPLUS_ATTR))


def objective_for(config: ForecastConfig, prepared: PreparedData, client: MlflowClient,
                  experiment_id: str, parent: str):
    total = config.tune.trials

    def objective(trial: optuna.Trial) -> float:
        if trial.number >= total:
            # two workers asked for the last trial at the same moment; the storage numbered
            # them apart, and the one past the budget stops here, before any training or run
            trial.set_user_attr(SURPLUS_ATTR, True)
            trial.study.stop()
            raise optuna.TrialPruned(f"the study already has its {total} trials")
        values = tuned_values(trial, config)
        trial.set_user_attr("overrides", values)
        trial.set_user_attr("objective", config.tune.objective)
        run = client.create_run(experiment_id, run_name=f"trial-{trial.number}",
                                tags={"mlflow.parentRunId": parent,
                                      "optuna.trial": str(trial.number)})
        run_id = run.info.run_id
        for key, value in values.items():
            client.log_param(run_id, key, value)
        pruning = PyTorchLightningPruningCallback(trial, monitor=config.tune.objective)
        try:
            # a trial is scored on its validation loss: a refit would add time and no score
            trial_config = config.with_values({**values, "trainer.refit": False})
            forecaster = Forecaster(config=trial_config).fit(prepared=prepared,
                                                             callbacks=[pruning])
        except optuna.TrialPruned:
            client.set_terminated(run_id, "KILLED")
            raise
        except Exception:
            client.set_terminated(run_id, "FAILED")
            raise
        report = forecaster.report
        for row in report.history:
            for key in ("train_loss", "val_loss", "val_mae"):
                if key in row:
                    client.log_metric(run_id, key, row[key], step=int(row["epoch"]))
        client.log_metric(run_id, "best_val_loss", report.best_val_loss)
        client.log_metric(run_id, "best_val_mae", report.best_val_mae)
        client.log_metric(run_id, "test_mae", forecaster.metrics["mae"])
        client.set_terminated(run_id, "FINISHED")
        return (report.best_val_mae if config.tune.objective == "val_mae"
                else report.best_val_loss)

    return objective


def progress_callback(progress, total: int):
    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done = sum(t.state in FINAL and not surplus(t)
                   for t in study.get_trials(deepcopy=False))
        seconds = trial.duration.total_seconds() if trial.duration else float("nan")
        best = (f"{study.best_value:.4f} (trial {study.best_trial.number})"
                if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
                else "none yet")
        value = f"{trial.value:.4f}" if trial.value is not None else "-"
        progress(f"[tune] trial {trial.number} {trial.state.name.lower()} in {seconds:.1f} s, "
                 f"value {value}; best {best}; {done}/{total} trials done")
    return report


def write_best_config(config: ForecastConfig, study: optuna.Study, path: Path) -> Path:
    """Write the best trial's config in one step: every worker writes the same `--output`,
    and the one that registers reads it back while another may be rewriting it."""
    best = config.with_values(study.best_trial.user_attrs["overrides"])
    text = (f"# Best of Optuna study '{study.study_name}' (trial {study.best_trial.number}, "
            f"{objective_of(study.best_trial)} {study.best_value:.6f}).\n"
            + yaml.safe_dump(best.model_dump(), sort_keys=False))
    with replaced_atomically(path) as temporary:
        temporary.write_text(text)
    return path


def run_tune(config: ForecastConfig, output: Path | None = None, progress=print,
             register: bool = False, prepared: PreparedData | None = None) -> TuneResult:
    """Run this worker's share of the study; with `register`, also claim the registration of
    the best trial, which exactly one of the workers gets (`TuneResult.registers`)."""
    family = config.model.family
    if family.search_space is None:
        raise ConfigError(f"model '{family.name}' has nothing to tune; tunable: "
                          f"{tunable_names()}")
    if prepared is None:
        config, prepared = prepare(config)
    config = resolved_config(config, prepared)  # the search space reads the data's settings
    settings = config.tune
    name = settings.study or f"tune-{family.name}"
    storage = open_storage(settings.storage, settings.grace_s)  # fails fast, before training
    study = open_study(storage, name, config)
    check_search_space(study, config)
    client = connect()
    experiment_id = ensure_experiment(client, config.tracking.experiment)
    parent = parent_run(client, experiment_id, study, storage)
    started = time.perf_counter()
    study.optimize(objective_for(config, prepared, client, experiment_id, parent),
                   n_trials=settings.trials, catch=(),
                   callbacks=[optuna.study.MaxTrialsCallback(settings.trials, states=STARTED),
                              progress_callback(progress, settings.trials)])
    await_other_workers(study, progress)
    progress(f"[tune] this worker ran for {time.perf_counter() - started:.0f} s")
    output = output or Path(f"tuned-{family.name}.yaml")
    write_best_config(config, study, output)
    plot = write_history_plot(study, output.with_suffix(".png"))
    best = study.best_trial  # one read of the storage for the summary, result and claim
    if not summarise_once(storage, name, best, parent, [plot, output]):
        progress(f"[tune] trial {best.number}'s summary is logged to the parent run by "
                 "another worker")
    return TuneResult(name, best.value, best.number, output, parent,
                      sum(not surplus(t) for t in study.trials),
                      register and claim_registration(storage, name, best.number))

