"""MLflow pyfunc wrapper, logged as code ("models from code"): nothing is pickled.

The weights and JSON configs travel as the artifact `model_dir` and are read by
`load_model` (one model, or an ensemble of them). Input: a long DataFrame (unique_id, ds,
y, covariates); rows after a series' last observed y (y empty) carry its future covariates.
Output: the forecast frame (unique_id, ds, mean, one column per quantile). Scoring is
`forecast.batch.score_frame`, the same as `forecast predict --model`; `predict` raises on a
series that fails a check, `score` returns the refused series beside the forecasts (what
the Spark scorer uses).
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from forecast import load_model
from forecast.artifacts import find_artifact
from forecast.batch import BatchResult, score_frame


class ForecastPyfunc(PythonModel):
    def load_context(self, context) -> None:
        directory = context.artifacts["model_dir"]
        self.predictor = load_model(find_artifact(directory, directory))

    def score(self, model_input: pd.DataFrame, horizon: int | None = None) -> BatchResult:
        return score_frame(self.predictor, model_input, horizon=horizon)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        result = self.score(model_input, (params or {}).get("horizon"))
        result.raise_for_errors()
        return result.forecasts


mlflow.models.set_model(ForecastPyfunc())
