"""Request builders shared by the service tests."""

from __future__ import annotations

import httpx
import pandas as pd

from tests.conftest import HORIZON

API_KEY = "test-key-123"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def request_body(frame: pd.DataFrame, cut: int = 300, **extra) -> dict:
    series = []
    for uid, group in frame.groupby("unique_id"):
        history, ahead = group.iloc[:cut], group.iloc[cut:cut + HORIZON]
        series.append({
            "unique_id": uid,
            "ds": history["ds"].dt.strftime("%Y-%m-%dT%H:%M:%S").tolist(),
            "y": history["y"].tolist(),
            "covariates": {"temp": history["temp"].tolist(),
                           "holiday": history["holiday"].tolist() + ahead["holiday"].tolist()},
        })
    return {"series": series, **extra}


def post(stack, body, path="/predict", headers=AUTH):
    return httpx.post(stack["url"] + path, json=body, headers=headers, timeout=60)


def mutate(body: dict, change) -> dict:
    series = dict(body["series"][0])
    series["covariates"] = dict(series["covariates"])
    change(series)
    return {**body, "series": [series]}




def request_schema(spec: dict, path: str) -> dict:
    """The JSON schema of a route's request body in the OpenAPI document."""
    return spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
