"""`forecast predict --model`: in-process batch scoring gives the service's answers."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd

from pipelines.cli import main
from tests.conftest import HORIZON, make_panel
from tests.floats import assert_forecasts_close
from tests.service.helpers import post, request_body


def batch_file(frame: pd.DataFrame, cut: int = 300) -> pd.DataFrame:
    """History up to `cut`, then HORIZON rows with y (and the past covariate) empty."""
    rows = frame.groupby("unique_id").head(cut + HORIZON).copy()
    ahead = rows.groupby("unique_id").cumcount() >= cut
    rows.loc[ahead, ["y", "temp"]] = np.nan
    return rows.drop(columns=["size"])


def test_in_process_batch_equals_the_service(stack, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stack["uri"])
    frame = make_panel(n_series=300, seed=3)
    data = tmp_path / "history.parquet"
    batch_file(frame).to_parquet(data, index=False)
    out = tmp_path / "forecasts.parquet"
    assert main(["predict", "--model", "models:/forecaster@champion", "--data", str(data),
                 "--output", str(out), "--batch-size", "64"]) == 0
    result = pd.read_parquet(out)
    assert result["unique_id"].nunique() == 300 and len(result) == 300 * HORIZON
    assert pd.read_csv(tmp_path / "forecasts.errors.csv").empty

    # offsets learnt from actuals (another test may have sent some) move the served
    # quantiles but never the median; the batch applies none
    adaptive = httpx.get(stack["url"] + "/model", timeout=10).json()["adaptive_offsets"]
    ids = sorted(frame["unique_id"].unique())
    for i in range(0, len(ids), 5):  # the stack's service takes 5 series a request
        chunk = frame[frame["unique_id"].isin(ids[i:i + 5])]
        response = post(stack, request_body(chunk))
        assert response.status_code == 200, response.text
        for forecast in response.json()["forecasts"]:
            ours = result[result["unique_id"] == forecast["unique_id"]]
            served = pd.DataFrame({"mean": forecast["mean"],
                                   **({} if any(adaptive.values()) else forecast["quantiles"])})
            assert_forecasts_close(ours[served.columns].to_numpy(), served.to_numpy())
