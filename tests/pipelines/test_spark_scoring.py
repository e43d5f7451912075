"""Spark `local[2]` scoring through the MLflow pyfunc equals in-process batch scoring."""

from __future__ import annotations

import os
import sys

import mlflow
import pandas as pd
import pytest

from forecast import Predictor
from forecast.batch import score_frame
from pipelines.mlflow_run import PYFUNC_CODE, PYFUNC_REQUIREMENTS
from pipelines.spark_scoring import score_spark
from tests.conftest import make_panel
from tests.floats import assert_forecasts_close
from tests.pipelines.test_batch_predict import model_dir  # noqa: F401 - fixture
from tests.service.test_batch_scoring import batch_file

pyspark = pytest.importorskip("pyspark", reason="pip install -e '.[spark]'")


@pytest.fixture(scope="module")
def spark():
    os.environ["PYSPARK_PYTHON"] = sys.executable  # executors run this environment
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("forecast-test")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.ui.enabled", "false").getOrCreate())
    yield session
    session.stop()


def test_spark_scoring_equals_in_process(spark, model_dir, tmp_path):  # noqa: F811
    pyfunc = tmp_path / "pyfunc"
    mlflow.pyfunc.save_model(str(pyfunc), python_model=str(PYFUNC_CODE),
                             artifacts={"model_dir": str(model_dir)},
                             pip_requirements=PYFUNC_REQUIREMENTS)
    rows = batch_file(make_panel(n_series=40, seed=9))
    rows = rows.drop(index=rows[rows["unique_id"] == "s5"].index[:290])  # too short
    rows["ds"] = pd.to_datetime(rows["ds"])

    out = score_spark(spark.createDataFrame(rows), str(pyfunc), buckets=6).toPandas()
    local = score_frame(Predictor.load(model_dir), rows)

    refused = out[out["error"].notna()]
    assert list(refused["unique_id"]) == ["s5"] and "lookback" in refused["error"].iloc[0]
    assert [e.unique_id for e in local.errors] == ["s5"]
    scored = out[out["error"].isna()].drop(columns=["error"])
    scored = scored.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    expected = local.forecasts.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    assert scored["unique_id"].nunique() == 39 and len(scored) == len(expected)
    assert (scored["unique_id"] == expected["unique_id"]).all()
    assert (pd.to_datetime(scored["ds"]) == pd.to_datetime(expected["ds"])).all()
    numbers = [c for c in expected.columns if c not in ("unique_id", "ds")]
    assert_forecasts_close(scored[numbers].to_numpy(), expected[numbers].to_numpy())
