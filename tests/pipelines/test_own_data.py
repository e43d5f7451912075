"""A user's own file, the way a new user runs it: `forecast train --data F` with no --set,
settings from the data, quiet output, and bad input stopped with the fix named before any
MLflow store or run exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.cli import main
from pipelines.tracking import EXPERIMENT_KIND

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow

# output a training must not show unless --verbose (issue 21's list)
NOISE = ("litlogger", "GPU available", "TPU available", "LeafSpec", "infer model signature",
         "Tight layout", "INFO mlflow", "Creating initial MLflow database", "Traceback",
         "Warning:", "it/s]")  # the last: a tqdm download bar (Rich's bar prints "it/s " )


def own_csv(path: Path, freq: str, n_series: int, length: int, period: int) -> Path:
    """unique_id, ds, y: a seasonal level per series plus noise; nothing else."""
    rng = np.random.default_rng(7)
    t = np.arange(length)
    frames = [pd.DataFrame({
        "unique_id": f"s{i:02d}", "ds": pd.date_range("2020-01-01", periods=length, freq=freq),
        "y": 50 + 10 * i + 8 * np.sin(2 * np.pi * t / period) + rng.normal(0, 1, length)})
        for i in range(n_series)]
    pd.concat(frames).to_csv(path, index=False)
    return path


CASES = {  # frequency -> (pandas alias, series, length, period, the summary it must print)
    "hourly": ("h", 3, 24 * 60, 24, "hourly data: lookback 168, horizon 24, season 168"),
    "daily": ("D", 3, 730, 7, "daily data: lookback 56, horizon 14, season 7"),
    "monthly": ("MS", 3, 120, 12, "monthly data: lookback 36, horizon 12, season 12"),
}


def forecast_cli(args: list[str], cwd: Path, uri: str) -> subprocess.CompletedProcess:
    """The console script, in the environment a user has (nothing set for tests)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "FORECAST_"))}
    return subprocess.run([str(BIN / "forecast"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env={**env, "MLFLOW_TRACKING_URI": uri})


@pytest.mark.parametrize("kind", list(CASES))
def test_own_file_trains_with_no_overrides_and_inspect_writes_a_config_that_trains(
        kind, tracking_server, tmp_path, monkeypatch):
    freq, n_series, length, period, summary = CASES[kind]
    data = own_csv(tmp_path / f"{kind}.csv", freq, n_series, length, period)
    trained = forecast_cli(["train", "--model", "lstm", "--config", "quick", "--data",
                            str(data)], tmp_path, tracking_server)
    output = trained.stdout + trained.stderr
    assert trained.returncode == 0, output[-3000:]
    assert summary in trained.stdout and "test = last" in trained.stdout
    assert [n for n in NOISE if n in output] == []
    assert "Epoch 1/1" in output  # the progress bar stays

    client = mlflow.MlflowClient(tracking_server)
    run = client.search_runs([client.get_experiment_by_name("forecast").experiment_id],
                             filter_string=f"params.`data.path` = '{data}'")[0]
    assert int(run.data.params["data.lookback"]) == int(summary.split("lookback ")[1].split(",")[0])
    epochs = sum(m.value for m in client.get_metric_history(run.info.run_id, "epoch_seconds"))
    assert run.info.end_time - run.info.start_time >= 1000 * epochs  # spans the training
    assert client.get_experiment_by_name("forecast").tags[EXPERIMENT_KIND[0]] == \
        EXPERIMENT_KIND[1]  # opens on its runs, not the GenAI overview

    config = tmp_path / f"{kind}.yaml"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    assert main(["inspect", str(data), "--config", "quick", "--output", str(config)]) == 0
    written = yaml.safe_load(config.read_text())
    assert written["data"]["path"] == str(data) and written["data"]["past_covariates"] == []
    assert main(["train", "--model", "lstm", "--config", str(config)]) == 0


def test_a_refit_trains_again_on_the_validation_part_and_logs_its_epochs(tracking_server,
                                                                          tmp_path):
    freq, n_series, length, period, _ = CASES["daily"]
    data = own_csv(tmp_path / "daily.csv", freq, n_series, length, period)
    trained = forecast_cli(["train", "--model", "gru", "--config", "quick", "--data", str(data),
                            "--set", "trainer.refit=true"], tmp_path, tracking_server)
    output = trained.stdout + trained.stderr
    assert trained.returncode == 0, output[-3000:]
    assert [n for n in NOISE if n in output] == []
    client = mlflow.MlflowClient(tracking_server)
    run = client.search_runs([client.get_experiment_by_name("forecast").experiment_id])[0]
    assert run.data.params["trainer.refit"] == "True"
    best = min(client.get_metric_history(run.info.run_id, "val_loss"), key=lambda m: m.value)
    assert run.data.metrics["refit_epochs"] == best.step + 1  # the epochs early stopping chose
    assert "test_mae" in run.data.metrics


def test_a_wide_file_trains_with_its_columns_as_series(tracking_server, tmp_path):
    """A spreadsheet-style export: the timestamp, then one column per series."""
    freq, n_series, length, period, summary = CASES["daily"]
    long = pd.read_csv(own_csv(tmp_path / "long.csv", freq, n_series, length, period))
    wide = long.pivot(index="ds", columns="unique_id", values="y").reset_index()
    wide.rename(columns={"ds": "date"}).to_csv(tmp_path / "wide.csv", index=False)
    trained = forecast_cli(["train", "--model", "mlp", "--config", "quick", "--data",
                            "wide.csv", "--set", "data.layout=wide", "--set",
                            "data.columns.ds=date"], tmp_path, tracking_server)
    output = trained.stdout + trained.stderr
    assert trained.returncode == 0, output[-3000:]
    assert f"wide.csv: {n_series} series; {summary}" in re.sub(r"\s+", " ", trained.stdout)
    client = mlflow.MlflowClient(tracking_server)
    run = client.search_runs([client.get_experiment_by_name("forecast").experiment_id])[0]
    assert run.data.params["data.layout"] == "wide" and "test_mae" in run.data.metrics


def test_a_file_named_otherwise_trains_and_forecasts_as_it_is(tracking_server, tmp_path):
    """`region` and `store` keying the series together (each store name in both regions),
    `quarter` as tsibble writes it (2020 Q1) and `sales`: trained with no --set, the columns
    as the note says, and `forecast predict` reads the same file the same way."""
    long = pd.read_csv(own_csv(tmp_path / "long.csv", "QS", 4, 80, 4))
    number = long["unique_id"].str[1:].astype(int)
    quarters = pd.PeriodIndex(pd.to_datetime(long["ds"]), freq="Q")
    named = pd.DataFrame({"region": np.where(number < 2, "north", "south"),
                          "store": "store " + (number % 2).astype(str),
                          "quarter": [f"{p.year} Q{p.quarter}" for p in quarters],
                          "sales": long["y"]})
    named.to_csv(tmp_path / "sales.csv", index=False)
    trained = forecast_cli(["train", "--model", "mlp", "--config", "quick", "--data",
                            "sales.csv"], tmp_path, tracking_server)
    output = re.sub(r"\s+", " ", trained.stdout + trained.stderr)
    assert trained.returncode == 0, output[-3000:]
    assert "sales.csv: 4 series; quarterly data: lookback 16, horizon 8, season 4" in output
    assert "timestamp 'quarter' (data.columns.ds), target 'sales' (data.columns.y), series id " \
        "the columns 'region' + 'store' together (data.columns.unique_id)" in output
    client = mlflow.MlflowClient(tracking_server)
    run = client.search_runs([client.get_experiment_by_name("forecast").experiment_id])[0]
    assert (run.data.params["data.columns.ds"], run.data.params["data.columns.y"]) == \
        ("quarter", "sales")
    bundle = re.search(r"bundle kept at (\S+)", output).group(1)
    scored = forecast_cli(["predict", "--model", f"{bundle}/model", "--data", "sales.csv",
                           "--output", "out.csv"], tmp_path, tracking_server)
    assert scored.returncode == 0, (scored.stdout + scored.stderr)[-3000:]
    out = pd.read_csv(tmp_path / "out.csv")
    assert sorted(out["unique_id"].unique()) == ["north/store 0", "north/store 1",
                                                 "south/store 0", "south/store 1"]
    assert pd.to_datetime(out["ds"]).min() == pd.to_datetime(long["ds"]).max() + \
        pd.offsets.QuarterBegin(1, startingMonth=1)  # the quarter after the last


def test_inspect_reports_gaps_non_finite_values_and_covariate_columns(tmp_path, capsys,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = pd.read_csv(own_csv(tmp_path / "a.csv", "h", 3, 600, 24))
    frame["price"] = np.linspace(1, 2, len(frame))
    frame["region"] = frame["unique_id"].map({"s00": 1, "s01": 2, "s02": 3})
    frame.loc[5, "y"] = np.nan
    frame = frame.drop(index=[700, 701])  # two hours missing in s01
    frame.to_csv(tmp_path / "b.csv", index=False)
    assert main(["inspect", str(tmp_path / "b.csv")]) == 2  # the gap stops training
    captured = capsys.readouterr()
    assert "series: 3; length min 598, median 600, max 600" in captured.out
    assert "frequency: h" in captured.out and "s01 (2)" in captured.out
    assert "non-finite y: 1 series: s00 (1)" in captured.out
    assert "price (past or future), region (static)" in captured.out
    assert "2 timestamps of its 'h' grid are missing (first 2020-01-05 04:00:00); set " \
        "data.fill" in re.sub(r"\s+", " ", captured.err) and "Traceback" not in captured.err
    assert not (tmp_path / "mlflow.db").exists()


def refuse(tmp_path: Path, capsys, args: list[str]) -> str:
    """Run a command that must fail cleanly: exit 2, no traceback, no store, no run."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / ".forecast").exists()
    return re.sub(r"\s+", " ", err)


@pytest.fixture
def in_empty_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_bad_files_are_one_clear_error_each_before_any_store(in_empty_dir, capsys):
    tmp_path = in_empty_dir
    good = pd.read_csv(own_csv(tmp_path / "good.csv", "D", 2, 400, 7))
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("unique_id,ds,y\n")
    good.assign(ds="not a date").to_csv(tmp_path / "ds.csv", index=False)
    text_y = good.astype({"y": object})
    text_y.loc[17, "y"] = "12.5 kW"
    text_y.to_csv(tmp_path / "text.csv", index=False)
    good.groupby("unique_id").head(20).to_csv(tmp_path / "short.csv", index=False)
    train = ["train", "--model", "lstm", "--config", "quick", "--data"]

    assert "empty.csv is empty" in refuse(tmp_path, capsys, [*train, "empty.csv"])
    assert "no rows" in refuse(tmp_path, capsys, [*train, "header.csv"])
    assert "column 'ds' has values that are not timestamps (e.g. 'not a date')" in refuse(
        tmp_path, capsys, [*train, "ds.csv"])
    message = refuse(tmp_path, capsys, [*train, "text.csv"])
    assert "column 'y' has 1 values that are not numbers, e.g. '12.5 kW' in the row " \
        "unique_id=s00, ds=2020-01-18" in message
    message = refuse(tmp_path, capsys, [*train, "short.csv"])
    assert "has 20 points; expected at least" in message
    fits = re.findall(r"--set (data\.\w+=\d+)", message)
    assert [f.split("=")[0] for f in fits] == ["data.lookback", "data.horizon", "data.val_size",
                                               "data.test_size"]
    sets = [a for f in fits for a in ("--set", f)]
    assert main(["inspect", "short.csv", "--config", "quick", *sets]) == 0  # the fix fits


def test_settings_errors_name_the_key_to_change(in_empty_dir, capsys):
    tmp_path = in_empty_dir
    own_csv(tmp_path / "my.csv", "h", 2, 24 * 60, 24)
    message = refuse(tmp_path, capsys, ["train", "--data", "my.csv", "--set",
                                        "data.past_covariates=[Temperature]"])
    assert "missing column 'Temperature'" in message
    assert "--set data.past_covariates=[]" in message
    message = refuse(tmp_path, capsys, ["train", "--data", "my.csv", "--set", "data.lookbak=3"])
    assert "did you mean 'data.lookback'?" in message
    message = refuse(tmp_path, capsys, ["train", "--data", "my.csv", "--config", "vic_elec"])
    assert "missing column 'Temperature'" in message  # the demo's preset on other data


def test_a_short_series_among_many_is_named_and_left_out(in_empty_dir, capsys):
    tmp_path = in_empty_dir
    frame = pd.read_csv(own_csv(tmp_path / "a.csv", "h", 3, 24 * 60, 24))
    frame = frame[(frame["unique_id"] != "s01") | (frame.index % (24 * 60) < 100)]
    frame.to_csv(tmp_path / "mixed.csv", index=False)
    assert main(["inspect", "mixed.csv", "--config", "quick"]) == 0
    captured = capsys.readouterr()
    assert "[data] mixed.csv: 2 series" in captured.out
    assert "warning: left out series 's01' has 100 points" in re.sub(r"\s+", " ", captured.err)
