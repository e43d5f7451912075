"""After deployment, against a real `bentoml serve`: forecasts logged, actuals in, live scores
out, and a log outage that costs no forecast."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.conftest import HORIZON, make_panel
from tests.servers import bento_server
from tests.service.helpers import AUTH, post, request_body

pytestmark = pytest.mark.slow


def actuals_body(frame: pd.DataFrame, cut: int = 300, uid_prefix: str = "") -> dict:
    series = []
    for uid, group in frame.groupby("unique_id"):
        ahead = group.iloc[cut:cut + HORIZON]
        series.append({"unique_id": uid_prefix + uid,
                       "ds": ahead["ds"].dt.strftime("%Y-%m-%dT%H:%M:%S").tolist(),
                       "y": ahead["y"].tolist()})
    return {"series": series}


def send_actuals_once_logged(stack, body: dict, points: int, timeout: float = 15.0):
    """The log is written off the request path (about once a second): send the actuals,
    again if need be (they are idempotent), until every point matches a logged forecast."""
    deadline = time.monotonic() + timeout
    while True:
        answer = post(stack, body, path="/actuals")
        assert answer.status_code == 200, answer.text
        if answer.json()["matched"] >= points or time.monotonic() > deadline:
            return answer
        time.sleep(0.3)


def test_forecasts_are_logged_and_scored_when_actuals_arrive(stack):
    frame = make_panel(n_series=2, seed=11)
    assert post(stack, request_body(frame)).status_code == 200

    body = actuals_body(frame)
    first = send_actuals_once_logged(stack, body, 2 * HORIZON)
    assert first.json() == {"received": 2 * HORIZON, "matched": 2 * HORIZON, "unmatched": 0}
    assert post(stack, body, path="/actuals").json()["matched"] == 2 * HORIZON  # idempotent

    unknown = post(stack, actuals_body(frame, uid_prefix="never-"), path="/actuals")
    assert unknown.status_code == 200 and unknown.json()["unmatched"] == 2 * HORIZON

    report = httpx.get(stack["url"] + "/monitoring", headers=AUTH, timeout=30).json()
    assert report["log"]["available"] is True and report["log"]["dropped"] == 0
    [version] = [v for v in report["versions"] if v["serving"]]
    assert version["live"]["n"] >= 2 * HORIZON  # scored once, whatever was sent twice
    assert version["status"] == "insufficient data"  # 96 points needed for a verdict
    assert [row["step"] for row in version["by_step"]] == list(range(1, HORIZON + 1))
    assert {row["unique_id"] for row in version["by_series"]} >= {"s0", "s1"}
    assert 0 <= version["live"]["coverage_80"] <= 1 and version["live"]["mae"] > 0
    assert set(version["adaptive_offsets"]) >= {"0.1", "0.9"}  # learnt from these actuals
    trackers = version["adaptive_trackers"]  # which rate leads, per level
    assert trackers["rates"] == sorted(trackers["rates"]) and len(trackers["rates"]) > 1
    for label, level in trackers["levels"].items():
        weights, offsets = np.array(level["weights"]), np.array(level["offsets"])
        assert len(weights) == len(offsets) == len(trackers["rates"])
        assert weights.min() >= 0 and weights.sum() == pytest.approx(1.0)
        # the served offset is the trackers' weighted mean
        assert version["adaptive_offsets"][label] == pytest.approx(
            float(weights @ offsets), rel=1e-9, abs=1e-12)
    metrics = httpx.get(stack["url"] + "/metrics", timeout=10).text
    written = re.search(r"^forecast_log_written_total (\S+)$", metrics, re.M)
    assert written and float(written.group(1)) >= 2 * HORIZON
    assert 'forecast_live_score{metric="mae"' in metrics
    assert 'forecast_live_status{model="forecaster"' in metrics
    served = httpx.get(stack["url"] + "/model", timeout=10).json()
    assert served["adaptive_offsets"] == version["adaptive_offsets"]


@pytest.mark.parametrize(("change", "status", "field"), [
    (lambda s: s.update(ds=s["ds"][:1] * 2, y=s["y"][:2]), 422, "series[0].ds"),
    (lambda s: s.update(y=s["y"][:-1]), 422, "series[0].y"),
    (lambda s: s.update(y=[1e300] + s["y"][1:]), 422, "series[0].y"),
    (lambda s: s.update(y=["12"] + s["y"][1:]), 422, None),
])
def test_bad_actuals_are_refused_and_nothing_is_stored(stack, change, status, field):
    body = actuals_body(make_panel(n_series=1, seed=12))
    series = dict(body["series"][0])
    change(series)
    answer = post(stack, {"series": [series]}, path="/actuals")
    assert answer.status_code == status, answer.text
    assert "error" in answer.json()
    if field:
        assert answer.json()["field"] == field


def test_actuals_over_the_limits_and_without_the_key(stack):
    body = actuals_body(make_panel(n_series=6, seed=13))  # the stack allows 5 series
    assert post(stack, body, path="/actuals").status_code == 413
    assert post(stack, body, path="/actuals", headers={}).status_code == 401


def test_a_log_that_is_down_costs_no_forecast(stack, tmp_path):
    """The log's database refuses connections from the start: every forecast is still
    answered, the service reports the log unavailable and counts what it dropped."""
    env = {**stack["env"], "FORECAST_CACHE_DIR": str(tmp_path / "cache"),
           "FORECAST_LOG_URL": "postgresql+psycopg://nobody:secret@127.0.0.1:9/forecast_log"}
    body = request_body(make_panel(n_series=2, seed=14))
    with bento_server(env, tmp_path / "bento.log") as url:
        with ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda _: httpx.post(
                url + "/predict", json=body, headers=AUTH, timeout=60).status_code, range(200)))
        assert codes == [200] * 200
        deadline = time.monotonic() + 15  # the writer takes what is queued once a second
        while True:
            report = httpx.get(url + "/monitoring", headers=AUTH, timeout=30).json()
            if report["log"]["dropped"] >= 200 * 2 * HORIZON or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert report["log"]["available"] is False and "secret" not in str(report)
        assert report["log"]["dropped"] == 200 * 2 * HORIZON
        metrics = httpx.get(url + "/metrics", timeout=10).text
        dropped = re.search(r"^forecast_log_dropped_total(?:\{[^}]*\})? (\S+)$", metrics, re.M)
        assert dropped and float(dropped.group(1)) == 200 * 2 * HORIZON, metrics[-2000:]
        actuals = httpx.post(url + "/actuals", json=actuals_body(make_panel(n_series=1)),
                             headers=AUTH, timeout=30)
        assert actuals.status_code == 503 and "unavailable" in actuals.json()["error"]
