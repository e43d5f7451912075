"""`forecast tune`: workers sharing one study on a database, nested runs, pruning, best config."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient

from forecast import load_config
from forecast.errors import ForecastError
from pipelines.cli import main
from pipelines.tracking import child_env
from pipelines.tune import (
    PARENT_ATTR,
    PARENT_LOCK_SUFFIX,
    await_other_workers,
    claim_registration,
    open_storage,
    parent_run,
    run_tune,
    summarise_once,
    tuned_values,
)
from tests.concurrency import read_while_rewritten, together
from tests.servers import BIN


def tune_worker(project: Path, uri: str, storage: str) -> subprocess.Popen:
    cmd = [str(BIN / "forecast"), "tune", "--model", "gru", "--trials", "4", "--config",
           str(project / "tiny.yaml"), "--storage", storage, "--study", "shared",
           "--set", "tracking.experiment=tuning", "--set", "tracking.registered_model=tuned",
           "--output", str(project / "best.yaml"), "--register"]
    return subprocess.Popen(cmd, env=child_env({"MLFLOW_TRACKING_URI": uri}), cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_workers_share_one_study(tracking_server, project, monkeypatch):
    root = project.parent
    storage = f"sqlite:///{root / 'optuna.db'}"
    workers = [tune_worker(root, tracking_server, storage)]
    time.sleep(2)  # usually joins a study that exists; the tests below start them at once
    workers.append(tune_worker(root, tracking_server, storage))
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    assert all("trials done" in out for out in outputs)  # progress, as it runs
    # the first to finish waits for the other's trials: both report the same final best
    [best_a, best_b] = [re.search(r"best val_loss \S+ \(trial \d+\)", out)[0] for out in outputs]
    assert best_a == best_b
    # and exactly one of them trains and registers it
    assert sum("is registered by another worker" in out for out in outputs) == 1
    # and exactly one of them logs the parent run's summary
    assert sum("logged to the parent run by another worker" in out for out in outputs) == 1

    study = optuna.load_study(study_name="shared", storage=storage)
    ran = [t for t in study.trials if not t.user_attrs.get("surplus")]
    assert sorted(t.number for t in ran) == [0, 1, 2, 3]  # 4 in all, none twice
    # a worker that asked for a fifth in the same instant as the other stops it unrun
    for extra in (t for t in study.trials if t.user_attrs.get("surplus")):
        assert extra.number >= 4 and extra.state == optuna.trial.TrialState.PRUNED
        assert not extra.intermediate_values
    client = MlflowClient(tracking_server, tracking_server)
    runs = client.search_runs([client.get_experiment_by_name("tuning").experiment_id])
    [parent] = [r for r in runs if r.data.tags.get("optuna.study") == "shared"]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(int(r.data.tags["optuna.trial"]) for r in trials) == [0, 1, 2, 3]
    assert "best_val_loss" in parent.data.metrics
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "tuning")}
    assert {"tuning/best.yaml", "tuning/best.png"} <= logged

    [version] = client.search_model_versions("name='tuned'")
    assert version.tags["promotion.decision"] == "promoted"

    best = yaml.safe_load((root / "best.yaml").read_text())
    assert best["model"]["name"] == "gru"
    assert best["model"]["rnn"]["hidden_size"] == study.best_trial.params["hidden_size"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    assert main(["train", "--config", str(root / "best.yaml")]) == 0


def test_workers_starting_together_make_one_parent_run(tracking_server, tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    client = MlflowClient(tracking_server, tracking_server)
    experiment_id = client.create_experiment("parent-race")
    optuna.create_study(study_name="race", storage=url)

    def connect_worker(_: int) -> tuple[optuna.Study, optuna.storages.RDBStorage]:
        storage = open_storage(url)  # one connection each, as separate workers have
        return optuna.load_study(study_name="race", storage=storage), storage

    # all four look for the parent in the same instant
    chosen = together(4, lambda ready: parent_run(client, experiment_id, *ready),
                      prepare=connect_worker)
    assert len(set(chosen)) == 1
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == chosen[:1]
    assert optuna.get_all_study_names(url) == ["race"]  # the lock is released


def test_workers_starting_together_on_a_new_database_all_join(tmp_path):
    """Each worker creates the study tables on a new database; the losers must not fail."""
    for attempt in range(3):  # the window is milliseconds wide: give it several chances
        url = f"sqlite:///{tmp_path / f'optuna{attempt}.db'}"
        assert together(4, lambda _, url=url: open_storage(url).get_all_studies()) == [[]] * 4


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # study.ask, not optimize
def test_the_trial_of_a_dead_worker_fails_and_the_wait_for_it_ends(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}", grace_s=1)
    study = optuna.create_study(study_name="dead", storage=storage)
    trial = study.ask()
    storage.record_heartbeat(trial._trial_id)  # one beat, then the worker "dies"
    said = []
    await_other_workers(study, said.append, poll_s=0.2)
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    assert said == ["[tune] waiting for trials [0], still running in other workers"]


def test_workers_finishing_together_log_the_summary_once(tracking_server, tmp_path,
                                                         monkeypatch):
    """The CI failure after the best-config fix: two workers set the parent run's
    `best_trial` tag in one instant, and MLflow's store refused the second (a unique key)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="done", storage=open_storage(url))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    client = MlflowClient(tracking_server, tracking_server)
    parent = client.create_run(client.create_experiment("summary-race")).info.run_id
    files = [tmp_path / "best.yaml", tmp_path / "best.png"]
    for path in files:
        path.write_text(path.name)

    best = study.best_trial
    logged = together(4, lambda storage: summarise_once(storage, "done", best, parent, files),
                      prepare=lambda _: open_storage(url))  # one connection each
    assert sorted(logged) == [False, False, False, True]
    run = client.get_run(parent)
    assert run.data.tags["best_trial"] == str(study.best_trial.number)
    assert len(client.get_metric_history(parent, "best_val_loss")) == 1
    assert sorted(a.path for a in client.list_artifacts(parent, "tuning")) == [
        "tuning/best.png", "tuning/best.yaml"]


def test_exactly_one_worker_claims_the_registration_of_a_trial(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    open_storage(url)
    claims = together(4, lambda storage: claim_registration(storage, "shared", 3),
                      prepare=lambda _: open_storage(url))
    assert sorted(claims) == [False, False, False, True]
    assert claim_registration(open_storage(url), "shared", 5)  # a new best is registered


def test_a_lock_left_by_a_dead_worker_is_a_clear_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="orphan", storage=url)
    optuna.create_study(study_name=f"orphan{PARENT_LOCK_SUFFIX}", storage=url)
    with pytest.raises(ForecastError, match=f"delete the study 'orphan{PARENT_LOCK_SUFFIX}'"):
        parent_run(None, "", study, open_storage(url), wait_s=0.5)


def test_a_diverging_trial_is_pruned(tracking_server, project, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="prune", storage=storage)
    good = {"hidden_size": 16, "num_layers": 1, "dropout": 0.0}
    study.enqueue_trial({**good, "learning_rate": 1e-3})
    study.enqueue_trial({**good, "learning_rate": 10.0})  # diverges at once
    config = load_config(project, ["model.name=gru", "tune.trials=2", f"tune.storage={storage}",
                                   "tune.study=prune", "tune.startup_trials=1",
                                   "tune.warmup_epochs=0", "trainer.max_epochs=3",
                                   "trainer.patience=3", "tracking.experiment=pruning"])
    run_tune(config, tmp_path / "best.yaml", progress=lambda _: None)
    states = [t.state for t in optuna.load_study(study_name="prune", storage=storage).trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED]


def test_an_unreachable_storage_fails_in_seconds(project):
    config = load_config(project, ["model.name=gru",
                                   "tune.storage=postgresql+psycopg://u:pw@127.0.0.1:9/optuna"])
    start = time.perf_counter()
    with pytest.raises(ForecastError, match=r"unreachable.*u:\*\*\*|unreachable") as info:
        run_tune(config)
    assert time.perf_counter() - start < 10 and "pw@" not in str(info.value)


def test_a_study_run_with_other_choices_is_refused_before_any_run(project, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="hourly", storage=storage)
    trial = study.ask()
    trial.suggest_categorical("patch_len", [8, 12, 24, 48])  # another data set's patches
    study.tell(trial, 1.0)
    config = load_config(project, ["model.name=transformer", f"tune.storage={storage}",
                                   "tune.study=hourly"])
    # refused with no tracking server: before the parent run or any trial
    with pytest.raises(ForecastError, match=r"'hourly' searched patch_len over "
                                            r"\(8, 12, 24, 48\).*--study"):
        run_tune(config)
    assert len(optuna.load_study(study_name="hourly", storage=storage).trials) == 1


def test_a_family_without_a_search_space_is_refused(project):
    with pytest.raises(ForecastError, match="has nothing to tune"):
        run_tune(load_config(project, ["model.name=naive"]))


def test_a_trial_numbered_past_the_budget_stops_before_it_runs(tiny_config):
    from pipelines.tune import objective_for

    study = optuna.create_study()
    study.tell(study.ask(), 1.0)  # the budget's one trial, already done (by another worker)
    config = tiny_config.with_values({"tune.trials": 1})
    # no data, no tracking client: a surplus trial must stop before it touches either
    study.optimize(objective_for(config, None, None, "", ""), n_trials=1)
    extra = study.trials[-1]
    assert extra.number == 1 and extra.state == optuna.trial.TrialState.PRUNED
    assert extra.user_attrs["surplus"] is True


@pytest.mark.parametrize("earlier, now", [("aligned", "last"), ("last", "aligned")])
def test_a_study_run_with_another_decoder_is_refused_before_any_run(project, tmp_path,
                                                                    earlier, now):
    # the seasonal input is drawn with the aligned decoder only: no distribution conflicts,
    # but the best trial's values would be written into a config they were not trained with
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    settings = ["model.name=gru", f"tune.storage={storage}", "tune.study=decoders"]
    study = optuna.create_study(study_name="decoders", storage=storage)
    trial = study.ask()
    before = load_config(project, [*settings, f"model.rnn.decoder={earlier}"])
    before.model.family.search_space(trial, before)
    study.tell(trial, 1.0)
    config = load_config(project, [*settings, f"model.rnn.decoder={now}"])
    with pytest.raises(ForecastError, match=r"'decoders' searched .*seasonal_input.*--study"):
        run_tune(config)
    assert len(optuna.load_study(study_name="decoders", storage=storage).trials) == 1


def test_a_worker_reading_the_best_config_never_sees_it_half_written(tiny_config, tmp_path):
    """Every worker of a study writes the same `--output`; the one that registers reads it
    back while the others may be rewriting it. A truncated file read as YAML is the defaults."""
    from pipelines.tune import write_best_config

    study = optuna.create_study(study_name="shared")
    trial = study.ask()
    trial.set_user_attr("overrides", {"model.rnn.hidden_size": 24})
    study.tell(trial, 1.0)
    path = tmp_path / "best.yaml"
    write_best_config(tiny_config, study, path)
    read = read_while_rewritten(lambda: write_best_config(tiny_config, study, path),
                                lambda: load_config(path).model.rnn.hidden_size)
    assert set(read) == {24}
    assert [p.name for p in tmp_path.iterdir()] == ["best.yaml"]  # no temporary left behind


def test_a_plot_being_rewritten_is_never_read_half_written(tmp_path):
    """The workers of a study also share `best.png`, which each uploads to the parent run."""
    import matplotlib.pyplot as plt

    from pipelines.plots import save_figure

    path = tmp_path / "best.png"

    def draw() -> None:
        figure, axes = plt.subplots()
        axes.plot(range(50))
        save_figure(figure, path)

    draw()
    reads = read_while_rewritten(draw, path.read_bytes)
    # a whole PNG starts with its signature and ends with the IEND chunk
    assert all(r.startswith(b"\x89PNG") and r.endswith(b"IEND\xaeB`\x82") for r in reads)
    assert [p.name for p in tmp_path.iterdir()] == ["best.png"]


def test_the_mae_objective_ranks_trials_across_loss_weightings(tracking_server, project,
                                                               monkeypatch, tmp_path, capsys):
    """Each weighting's loss is in its own units; the validation MAE is in the data's, so
    with `tune.objective: val_mae` the study draws the weighting and ranks trials on it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="weights", storage=storage)
    for weighting in ("equal", "sqrt", "scale"):  # one trial of each, the rest drawn
        study.enqueue_trial({"loss_weighting": weighting})
    assert main(["tune", "--model", "gru", "--trials", "3", "--config", str(project),
                 "--storage", storage, "--study", "weights", "--objective", "val_mae",
                 "--output", str(tmp_path / "best.yaml"), "--set", "tune.startup_trials=3",
                 "--set", "trainer.max_epochs=2", "--set", "tracking.experiment=weights"]) == 0
    study = optuna.load_study(study_name="weights", storage=storage)
    trials = study.trials
    assert [t.params["loss_weighting"] for t in trials] == ["equal", "sqrt", "scale"]
    client = MlflowClient(tracking_server)
    experiment = client.get_experiment_by_name("weights").experiment_id
    for trial in trials:
        [run] = client.search_runs([experiment], f"tags.`optuna.trial` = '{trial.number}'")
        metrics = run.data.metrics
        assert trial.value == pytest.approx(metrics["best_val_mae"], rel=1e-6)
        assert trial.value != pytest.approx(metrics["best_val_loss"], rel=1e-3)
        # the MAE of the epoch early stopping kept, the one with the lowest validation loss
        losses = client.get_metric_history(run.info.run_id, "val_loss")
        maes = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "val_mae")}
        kept = min(losses, key=lambda m: m.value).step
        assert trial.value == pytest.approx(maes[kept], rel=1e-6)
    best = min(trials, key=lambda t: t.value)
    assert f"best val_mae {best.value:.4f} (trial {best.number})" in capsys.readouterr().out
    written = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert written["model"]["loss_weighting"] == best.params["loss_weighting"]
    assert "val_mae" in (tmp_path / "best.yaml").read_text().splitlines()[0]
    parent = client.get_run(study.user_attrs[PARENT_ATTR]).data.metrics
    assert parent["best_val_mae"] == pytest.approx(best.value, rel=1e-6)


def test_a_study_ranked_on_the_loss_is_not_continued_on_the_mae(project, tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    settings = ["model.name=gru", f"tune.storage={storage}", "tune.study=ranked"]
    study = optuna.create_study(study_name="ranked", storage=storage)
    trial = study.ask()
    before = load_config(project, settings)
    tuned_values(trial, before)
    study.tell(trial, 1.0)
    config = load_config(project, [*settings, "tune.objective=val_mae"])
    with pytest.raises(ForecastError, match=r"'ranked' searched .*loss_weighting.*objective"):
        run_tune(config)
    assert len(optuna.load_study(study_name="ranked", storage=storage).trials) == 1
