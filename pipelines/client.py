"""`forecast predict --url`: a history (history_file.py reads it) as a /predict request, and
the answer as a table."""

from __future__ import annotations

import httpx
import pandas as pd

from forecast.errors import ForecastError

KEYS = ("unique_id", "ds", "y")


def served_covariates(url: str, timeout: float = 30.0) -> list[str] | None:
    """The covariates the served model uses (GET /model, public): the service refuses any
    other, and a file often has more columns than the model reads. None when unknown."""
    try:
        response = httpx.get(url.rstrip("/") + "/model", timeout=timeout)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    covariates = response.json().get("covariates", {})
    return [*covariates.get("past", []), *covariates.get("future", [])]


def build_request(frame: pd.DataFrame, horizon: int | None, explain: bool,
                  covariates: list[str] | None = None) -> dict:
    """Rows with y empty after the history carry future covariates for the forecast steps.
    `covariates`: the columns to send (default: every column but unique_id, ds and y)."""
    series = []
    for uid, group in frame.groupby("unique_id", sort=False):
        group = group.sort_values("ds")
        known = group["y"].notna()
        history = group[known]
        values_of = {}
        for column in group.columns:
            if column in KEYS or (covariates is not None and column not in covariates):
                continue
            values = history[column].tolist()
            ahead = group.loc[~known, column]
            if ahead.notna().all() and len(ahead):
                values += ahead.tolist()
            values_of[column] = values
        series.append({"unique_id": str(uid),
                       "ds": pd.to_datetime(history["ds"]).dt.strftime("%Y-%m-%dT%H:%M:%S").tolist(),
                       "y": history["y"].astype(float).tolist(), "covariates": values_of})
    body: dict = {"series": series, "explain": explain}
    if horizon is not None:
        body["horizon"] = horizon
    return body


def response_frame(payload: dict) -> pd.DataFrame:
    frames = []
    for f in payload["forecasts"]:
        columns = {"unique_id": f["unique_id"], "ds": f["ds"], "mean": f["mean"]}
        columns.update(f.get("quantiles", {}))
        frames.append(pd.DataFrame(columns))
    return pd.concat(frames, ignore_index=True)


def call_service(url: str, body: dict, api_key: str | None, timeout: float = 60.0) -> dict:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.post(url.rstrip("/") + "/predict", json=body, headers=headers,
                              timeout=timeout)
    except httpx.HTTPError as err:
        raise ForecastError(f"cannot reach the service at {url}: {err}") from None
    if response.status_code != 200:
        raise ForecastError(f"service answered {response.status_code}: {response.text[:500]}")
    return response.json()


def vic_elec_request(lookback: int = 336, horizon: int = 48) -> tuple[dict, pd.DataFrame]:
    """A /predict body for the last `horizon` steps of vic_elec, and the actual values."""
    from forecast.data import load_vic_elec

    rows = load_vic_elec().iloc[-lookback - horizon:].copy()
    actual = rows.iloc[-horizon:].copy()
    rows.loc[rows.index[-horizon:], ["y", "Temperature"]] = None  # unknown ahead
    return build_request(rows, None, explain=False), actual
