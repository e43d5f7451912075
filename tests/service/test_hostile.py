"""The second round of probes against the real service (issue 24): each request here answered
500, a huge body, a silent reinterpretation, or held the service, before it was fixed."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from datetime import datetime

import httpx
import pytest

from tests.conftest import make_panel
from tests.service.helpers import API_KEY, AUTH, mutate, post, request_body

MAX_ERROR_BYTES = 16 * 1024


def assert_contract(response: httpx.Response, status: int, field: object = ...) -> dict:
    """The documented error body: JSON with `error` and `field`, a few KB at most."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    assert len(response.content) < MAX_ERROR_BYTES
    body = response.json()
    assert set(body) == {"error", "field"} and body["error"], body
    if field is not ...:
        assert body["field"] == field, body
    return body


def shifted(series: dict, first: datetime) -> None:
    """Same spacing, starting at `first`."""
    step = datetime.fromisoformat(series["ds"][1]) - datetime.fromisoformat(series["ds"][0])
    series["ds"] = [(first + i * step).isoformat() for i in range(len(series["ds"]))]


@pytest.mark.parametrize("first", [datetime(1, 1, 1), datetime(1677, 9, 21), datetime(9999, 1, 1)])
def test_timestamps_outside_the_representable_range_are_422(stack, first):
    body = mutate(request_body(make_panel(n_series=1)), lambda s: shifted(s, first))
    assert_contract(post(stack, body), 422, "series[0].ds")
    actuals = {"series": [{"unique_id": "a", "ds": [first.isoformat()], "y": [1.0]}]}
    assert_contract(post(stack, actuals, "/actuals"), 422, "series[0].ds")


def test_a_request_without_a_body_is_judged_as_an_empty_one(stack):
    headers = {**AUTH, "content-type": "multipart/form-data"}
    reload = httpx.post(stack["url"] + "/reload", headers=headers, timeout=60)
    assert reload.status_code == 200 and reload.json()["status"] == "unchanged"
    empty = httpx.post(stack["url"] + "/predict", headers={**headers, "content-length": "0"},
                       timeout=30)
    assert assert_contract(empty, 422, "series")["error"] == "Field required"


def test_an_error_answer_and_its_log_line_are_bounded(stack):
    log = stack["root"] / "bento.log"
    before = log.stat().st_size
    body = request_body(make_panel(n_series=1))
    body["series"][0]["y"] = [True] * 150_000  # ~0.9 MB, under the 1 MB limit
    error = assert_contract(post(stack, body), 422, "series[0].y[0]")
    assert "number" in error["error"]
    added = log.read_bytes()[before:].decode("utf-8", "replace")
    assert len(added) < MAX_ERROR_BYTES and "Traceback" not in added and "ERROR" not in added


@pytest.mark.parametrize("change,field,name", [
    (lambda b: b.update(horizn=1), "body", "horizn"),
    (lambda b: b.update(quantile=[0.1, 0.9]), "body", "quantile"),
    (lambda b: b.update(topk=3), "body", "topk"),
    (lambda b: b.update(explian=True), "body", "explian"),
    (lambda b: b["series"][0].update(statics={"a": 1.0}), "series[0]", "statics"),
    (lambda b: b["series"][0]["covariates"].update(tempp=b["series"][0]["covariates"]["temp"]),
     "series[0].covariates.tempp", "tempp"),
    (lambda b: b["series"][0]["static"].update(region=1.0), "series[0].static.region", "region"),
])
def test_unknown_fields_are_422_naming_them(stack, change, field, name):
    body = request_body(make_panel(n_series=1))
    body["series"][0]["static"] = {}
    change(body)
    assert name in assert_contract(post(stack, body), 422, field)["error"]


def test_a_thousand_covariates_are_one_bounded_error(stack):
    body = request_body(make_panel(n_series=1))
    values = body["series"][0]["covariates"]["temp"]
    body["series"][0]["covariates"].update({f"c{i}": values[:10] for i in range(1000)})
    assert "at most" in assert_contract(post(stack, body), 422, "series[0].covariates")["error"]


def test_explain_has_its_own_series_limit(stack):
    body = request_body(make_panel(n_series=3), explain=True)
    assert_contract(post(stack, body), 413, "series")
    assert post(stack, {**body, "explain": False}).status_code == 200


def test_every_error_answer_is_the_contract(stack):
    url = stack["url"]
    assert_contract(httpx.get(url + "/no-such-route", headers=AUTH, timeout=10), 404, None)
    assert_contract(httpx.get(url + "/predict", headers=AUTH, timeout=10), 405, None)
    assert_contract(httpx.get(url + "/static_content/nothing.css", timeout=10), 404, None)
    assert_contract(httpx.post(url + "/predict", content=b"{not json", timeout=10,
                               headers={**AUTH, "content-type": "application/json"}), 422,
                    "body")
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = raw.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head
    assert set(json.loads(body)) == {"error", "field"}


def test_unknown_paths_share_one_metrics_label(stack):
    url = stack["url"]
    paths = [f"/probe-{uuid.uuid4().hex}" for _ in range(20)]
    for path in paths:
        assert httpx.get(url + path, timeout=10).status_code == 401
    metrics = httpx.get(url + "/metrics", timeout=10).text
    assert not any(path in metrics for path in paths)
    assert 'endpoint="other"' in metrics and 'endpoint="/predict"' in metrics


async def _slow_clients(url: str, body: bytes, slow_bodies: int, partial_headers: int):
    """`slow_bodies` connections that send their headers and one byte of body, and
    `partial_headers` that never finish their headers; while they hang, one ordinary
    forecast. Returns its status and what each slow connection was answered."""
    host, port = url.removeprefix("http://").split(":")
    head = (f"POST /predict HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {API_KEY}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n").encode()
    opened = []
    for i in range(slow_bodies + partial_headers):
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(head + body[:1] if i < slow_bodies else head[:30])
        await writer.drain()
        opened.append((reader, writer))
    await asyncio.sleep(1.0)
    async with httpx.AsyncClient(timeout=60) as client:
        ordinary = await client.post(url + "/predict", content=body,
                                     headers={**AUTH, "content-type": "application/json"})

    async def answer(reader) -> bytes:
        try:
            return await asyncio.wait_for(reader.read(4096), timeout=30)
        except (TimeoutError, ConnectionError):
            return b""

    answers = await asyncio.gather(*(answer(reader) for reader, _ in opened))
    for _, writer in opened:
        writer.close()
    return ordinary.status_code, answers


def test_slow_clients_are_cut_and_never_lock_out_forecasts(stack):
    """520 slow bodies used to hold all 512 slots for 60 s (every forecast got 429), and half
    sent headers were never closed."""
    body = json.dumps(request_body(make_panel())).encode()
    status, answers = asyncio.run(_slow_clients(stack["url"], body, 520, 5))
    assert status == 200
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers[:520]), answers[0][:200]
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers[520:]), answers[520][:200]
