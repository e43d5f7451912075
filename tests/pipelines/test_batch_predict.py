"""`forecast predict --model DIR`: broken series are listed, the rest scored; files checked
before any work."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast import Forecaster
from pipelines.cli import main
from pipelines.commands import EXIT_NOTHING_FORECAST, EXIT_SOME_REFUSED
from tests.conftest import HORIZON, make_panel, wide_twin
from tests.service.test_batch_scoring import batch_file


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from forecast import build_config
    from tests.conftest import tiny_config_values

    directory = tmp_path_factory.mktemp("model") / "model"
    Forecaster("gru", build_config(tiny_config_values())).fit(make_panel()).save(directory)
    return directory


def broken_batch() -> pd.DataFrame:
    rows = batch_file(make_panel(n_series=20, seed=5))
    short = rows[rows["unique_id"] == "s3"].index[10:]
    gap = rows[rows["unique_id"] == "s7"].index[290]  # inside the lookback the model reads
    hole = rows[rows["unique_id"] == "s11"].index[200]
    rows.loc[hole, "y"] = np.nan  # inside the history, not a forecast step
    return rows.drop(index=[*short[:-HORIZON], gap])


def test_three_broken_series_are_listed_and_the_rest_scored(model_dir, tmp_path, capsys):
    data = tmp_path / "batch.csv"
    broken_batch().to_csv(data, index=False)
    out = tmp_path / "out.csv"
    assert main(["predict", "--model", str(model_dir), "--data", str(data),
                 "--output", str(out)]) == EXIT_SOME_REFUSED
    result = pd.read_csv(out)
    errors = pd.read_csv(tmp_path / "out.errors.csv").set_index("unique_id")
    assert set(errors.index) == {"s3", "s7", "s11"}
    assert "lookback" in errors.loc["s3", "reason"] or "short" in errors.loc["s3", "reason"]
    assert "frequency" in errors.loc["s7", "reason"] or "gap" in errors.loc["s7", "reason"]
    assert errors.loc["s11", "field"] == "y"
    assert result["unique_id"].nunique() == 17 and len(result) == 17 * HORIZON
    assert {"mean", "0.05", "0.95"} <= set(result.columns) and result["mean"].notna().all()
    assert "3 series refused" in capsys.readouterr().out


def test_nothing_forecast_is_a_failure_a_scheduler_sees(model_dir, tmp_path, capsys):
    rows = batch_file(make_panel(n_series=3))
    rows = rows[rows["y"].notna()].groupby("unique_id").tail(HORIZON)  # far under the lookback
    data = tmp_path / "batch.csv"
    rows.to_csv(data, index=False)
    code = main(["predict", "--model", str(model_dir), "--data", str(data), "--output",
                 str(tmp_path / "out.csv")])
    assert code == EXIT_NOTHING_FORECAST != 0
    captured = capsys.readouterr()
    assert "0 of 3 series forecast" in captured.out and "first refusal: s0" in captured.err


def test_missing_columns_are_one_error_before_any_work(model_dir, tmp_path, capsys):
    data = tmp_path / "batch.csv"
    batch_file(make_panel()).drop(columns=["temp", "holiday"]).to_csv(data, index=False)
    out = tmp_path / "out.csv"
    assert main(["predict", "--model", str(model_dir), "--data", str(data),
                 "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "lacks column(s) ['temp', 'holiday']" in err and "Traceback" not in err
    assert "data.columns" not in err and not out.exists()  # no rename fix for covariates
    timed = batch_file(make_panel()).drop(columns=["holiday"]).rename(columns={"ds": "time"})
    timed.to_csv(data, index=False)
    assert main(["predict", "--model", str(model_dir), "--data", str(data),
                 "--output", str(out)]) == 2
    err = capsys.readouterr().err  # one column fits the timestamp: read as it, as training does
    assert "lacks column(s) ['holiday']" in err and not out.exists()
    timed.rename(columns={"time": "start"}).assign(end=timed["time"]).to_csv(data, index=False)
    assert main(["predict", "--model", str(model_dir), "--data", str(data),
                 "--output", str(out)]) == 2
    err = capsys.readouterr().err  # two could be: the timestamp and the covariate, with the fix
    assert "lacks column(s) ['ds', 'holiday']" in err and "'start'" in err
    assert "--set data.columns.ds=COLUMN" in err and not out.exists()


def test_an_existing_output_is_refused_without_overwrite(model_dir, tmp_path, capsys):
    data = tmp_path / "batch.parquet"
    batch_file(make_panel()).to_parquet(data, index=False)
    out = tmp_path / "out.parquet"
    out.write_text("keep me")
    args = ["predict", "--model", str(model_dir), "--data", str(data), "--output", str(out)]
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err and out.read_text() == "keep me"
    assert main([*args, "--overwrite"]) == 0
    assert len(pd.read_parquet(out)) == 2 * HORIZON


def test_future_covariates_in_a_file_of_their_own(model_dir, tmp_path):
    rows = batch_file(make_panel())
    ahead = rows["y"].isna()
    history, future = tmp_path / "history.csv", tmp_path / "future.csv"
    rows[~ahead].to_csv(history, index=False)
    rows.loc[ahead, ["unique_id", "ds", "holiday"]].to_csv(future, index=False)
    together = tmp_path / "together.csv"
    rows.to_csv(together, index=False)
    for name, args in (("a.csv", ["--data", str(history), "--future", str(future)]),
                       ("b.csv", ["--data", str(together)])):
        assert main(["predict", "--model", str(model_dir), *args,
                     "--output", str(tmp_path / name)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))


def test_a_wide_file_scores_as_the_long_rows_it_stands_for(model_dir, tmp_path):
    wide, long = wide_twin(batch_file(make_panel(n_series=3, seed=8)))
    wide.to_csv(tmp_path / "wide.csv", index=False)
    long.rename(columns={"y": "load"}).to_parquet(tmp_path / "long.parquet", index=False)
    for data, settings in (("wide.csv", ["data.layout=wide", "data.columns.ds=time"]),
                           ("long.parquet", ["data.columns.y=load"])):  # as they trained
        assert main(["predict", "--model", str(model_dir), "--data", str(tmp_path / data),
                     "--output", str(tmp_path / f"{data}.out.csv"),
                     *[a for s in settings for a in ("--set", s)]]) == 0
    got, expected = (pd.read_csv(tmp_path / f"{data}.out.csv").sort_values(["unique_id", "ds"])
                     .reset_index(drop=True) for data in ("wide.csv", "long.parquet"))
    assert sorted(got["unique_id"].unique()) == ["s0", "s1", "s2"] and len(got) == 3 * HORIZON
    assert (got["ds"] == expected["ds"]).all()
    np.testing.assert_allclose(got["mean"], expected["mean"], rtol=1e-5)


def test_predict_refuses_settings_of_the_model_and_a_wide_file_without_them(model_dir,
                                                                           tmp_path, capsys):
    wide, _ = wide_twin(batch_file(make_panel()))
    data, out = tmp_path / "wide.csv", tmp_path / "out.csv"
    wide.to_csv(data, index=False)
    base = ["predict", "--model", str(model_dir), "--data", str(data), "--output", str(out)]
    assert main([*base, "--set", "data.layout=wide", "--set", "data.lookback=12"]) == 2
    err = capsys.readouterr().err
    assert "data.lookback" in err and "data.layout" in err and "Traceback" not in err
    assert main(base) == 2  # read as long: the fix names the wide layout
    err = capsys.readouterr().err
    assert "lacks column(s) ['ds', 'y']" in err and "data.columns.ds" in err
    assert "data.layout=wide" in err and not out.exists()
    wide.drop(columns=["holiday"]).to_csv(data, index=False)  # wide, a covariate lost
    assert main([*base, "--set", "data.layout=wide", "--set", "data.columns.ds=time"]) == 2
    err = capsys.readouterr().err
    assert "lacks column(s) ['holiday']" in err and "Traceback" not in err and not out.exists()
    assert "needs ['time', 'temp', 'holiday'] (wide layout" in err


def test_a_logged_batch_is_scored_when_its_actuals_arrive(model_dir, tmp_path, capsys,
                                                         monkeypatch):
    from forecast.monitoring import ForecastLog, live_scores

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    data, out = tmp_path / "batch.csv", tmp_path / "out.csv"
    batch_file(make_panel(n_series=3, seed=21)).to_csv(data, index=False)
    assert main(["predict", "--model", str(model_dir), "--data", str(data), "--output",
                 str(out), "--log", "--log-url", url]) == 0
    forecasts = pd.read_csv(out)
    actuals = forecasts[["unique_id", "ds"]].assign(y=forecasts["mean"] + 1.0)
    actuals.to_csv(tmp_path / "actuals.csv", index=False)
    capsys.readouterr()
    monkeypatch.setenv("FORECAST_ADAPTIVE_RATE", "fast")  # refused before anything is stored
    assert main(["actuals", "--data", str(tmp_path / "actuals.csv"), "--log-url", url]) == 2
    assert "FORECAST_ADAPTIVE_RATE='fast'" in capsys.readouterr().err
    assert ForecastLog(url).actuals_frame().empty
    monkeypatch.delenv("FORECAST_ADAPTIVE_RATE")
    for _ in range(2):  # idempotent: the second time changes nothing
        assert main(["actuals", "--data", str(tmp_path / "actuals.csv"), "--log-url", url]) == 0
    assert f"{3 * HORIZON} actuals stored ({3 * HORIZON} target logged forecasts, 0 no " \
           "forecast yet)" in capsys.readouterr().out
    store = ForecastLog(url)
    joined = store.joined("model", "local")
    assert len(joined) == 3 * HORIZON
    assert live_scores(joined).overall["mae"] == pytest.approx(1.0, rel=1e-5)
    offsets = store.offsets("model", "local", tuple(Forecaster.load(model_dir).quantiles))
    assert offsets.updates == 3 * HORIZON  # each forecast taught the offsets once
    # actuals just above the median, well inside the interval: both ends move towards them
    assert offsets.offset(0.1) > 0 > offsets.offset(0.9)

    bad = actuals.iloc[[0, 0]]
    bad.to_csv(tmp_path / "twice.csv", index=False)
    assert main(["actuals", "--data", str(tmp_path / "twice.csv"), "--log-url", url]) == 2
    assert "twice" in capsys.readouterr().err


def test_a_wide_file_is_logged_and_scored_by_wide_actuals(model_dir, tmp_path, capsys,
                                                          monkeypatch):
    from forecast.monitoring import ForecastLog, live_scores

    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    layout = ["--set", "data.layout=wide", "--set", "data.columns.ds=time"]
    wide, _ = wide_twin(batch_file(make_panel(n_series=3, seed=22)))
    wide.to_csv(tmp_path / "wide.csv", index=False)
    assert main(["predict", "--model", str(model_dir), "--data", str(tmp_path / "wide.csv"),
                 "--output", str(tmp_path / "out.csv"), "--log", "--log-url", url, *layout]) == 0
    forecasts = pd.read_csv(tmp_path / "out.csv")
    actuals = forecasts.pivot(index="ds", columns="unique_id", values="mean") + 1.0
    actuals.iloc[-1, 0] = np.nan  # s0's last hour is not in yet: no actual, not an error
    actuals.rename_axis("time").reset_index().to_csv(tmp_path / "actuals.csv", index=False)
    capsys.readouterr()
    assert main(["actuals", "--data", str(tmp_path / "actuals.csv"), "--log-url", url,
                 *layout]) == 0
    stored = 3 * HORIZON - 1
    assert f"{stored} actuals stored ({stored} target logged forecasts, 0 no forecast yet)" \
        in capsys.readouterr().out
    joined = ForecastLog(url).joined("model", "local")
    assert live_scores(joined).overall["mae"] == pytest.approx(1.0, rel=1e-5)
