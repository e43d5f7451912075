"""MLflow pyfunc wrapper, logged as code ("models from code"): nothing is pickled.

The weights and JSON configs travel as the artifact `model_dir` and are read by
`Forecaster.load`. Input: a long DataFrame (unique_id, ds, y, covariates); rows after a
series' last observed y (y empty) carry its future covariates. Output: the forecast frame.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from forecast import Forecaster


class ForecastPyfunc(PythonModel):
    def load_context(self, context) -> None:
        self.forecaster = Forecaster.load(context.artifacts["model_dir"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = model_input.copy()
        frame["ds"] = pd.to_datetime(frame["ds"])
        known = frame["y"].notna()
        horizon = (params or {}).get("horizon")
        future = frame.loc[~known].drop(columns=["y"]) if (~known).any() else None
        return self.forecaster.predict(frame.loc[known], horizon=horizon, future_df=future)


mlflow.models.set_model(ForecastPyfunc())
