"""Score a Spark DataFrame of many series with the registered MLflow pyfunc.

Rows are grouped by a hash bucket of `unique_id` (every row of a series lands in one
group) and each group is scored by the pyfunc in one `applyInPandas` call, so a forward
pass covers many series instead of one. A series that fails a check comes back as one row
with `error` set (and nulls elsewhere): nothing is dropped silently.

    from pipelines.spark_scoring import score_spark
    forecasts = score_spark(spark_df, "models:/forecaster@champion")

Needs `pip install -e '.[spark]'` (pyspark, Java 17). Executors load the model from the
same URI, so on a cluster give them MLFLOW_TRACKING_URI (or a model path they can read).
"""

from __future__ import annotations

from functools import lru_cache

import mlflow
import pandas as pd

from forecast.frames import quantile_label


@lru_cache(maxsize=4)
def _scorer(model_uri: str):
    """The pyfunc's Python model, loaded once per executor process and URI."""
    return mlflow.pyfunc.load_model(model_uri).unwrap_python_model()


def output_schema(quantiles: list[float]) -> str:
    labels = "".join(f", `{quantile_label(q)}` double" for q in quantiles)
    return f"unique_id string, ds timestamp, mean double{labels}, error string"


def score_pandas(model_uri: str, quantiles: list[float], frame: pd.DataFrame,
                 horizon: int | None = None) -> pd.DataFrame:
    """One group: forecasts, then one row per refused series with its reason."""
    result = _scorer(model_uri).score(frame, horizon)
    labels = [quantile_label(q) for q in quantiles]
    forecasts = result.forecasts.assign(error=None)
    refused = pd.DataFrame({"unique_id": [e.unique_id for e in result.errors],
                            "error": [f"{e.field}: {e.reason}" if e.field else e.reason
                                      for e in result.errors]})
    out = pd.concat([forecasts, refused], ignore_index=True) if len(refused) else forecasts
    out["ds"] = pd.to_datetime(out["ds"])
    out = out.reindex(columns=["unique_id", "ds", "mean", *labels, "error"])
    # pandas 3's arrow-backed strings come out chunked, which PySpark's Arrow path refuses
    return out.astype({"unique_id": object, "error": object})


def score_spark(df, model_uri: str, buckets: int | None = None, horizon: int | None = None):
    """A Spark DataFrame of forecasts (and refused series) for every series in `df`."""
    from pyspark.sql import functions as F

    quantiles = list(_scorer(model_uri).predictor.quantiles)
    buckets = buckets or 4 * df.sparkSession.sparkContext.defaultParallelism

    def score_group(frame: pd.DataFrame) -> pd.DataFrame:
        return score_pandas(model_uri, quantiles, frame.drop(columns=["_bucket"]), horizon)

    bucketed = df.withColumn("_bucket", F.abs(F.hash("unique_id")) % buckets)
    return bucketed.groupBy("_bucket").applyInPandas(score_group,
                                                     schema=output_schema(quantiles))
