"""Authentication is on by default: every route needs the key except a named public list."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from service.errors import contract_send, in_contract
from service.middleware import PUBLIC_ROUTES, ForecastGuard, LargeBodyRate
from service.settings import ServiceSettings


def settings_with(**changes) -> ServiceSettings:
    """The environment's settings with `changes`; no API key unless one is given."""
    return dataclasses.replace(ServiceSettings.from_env(), **{"api_key": None, **changes})


def guard(api_key: str | None) -> tuple[ForecastGuard, list]:
    reached = []

    async def app(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return ForecastGuard(app, settings_with(api_key=api_key)), reached


def call(middleware: ForecastGuard, path: str, headers: list | None = None) -> int:
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "path": path, "headers": headers or []}
    asyncio.run(middleware(scope, receive, send))
    return sent[0]["status"]


@pytest.mark.parametrize("path", ["/predict", "/reload", "/a-route-added-later", "/admin/x"])
def test_every_route_outside_the_public_list_needs_the_key(path):
    middleware, reached = guard("secret")
    assert call(middleware, path) == 401 and reached == []
    assert call(middleware, path, [(b"x-api-key", b"secret")]) == 200
    assert call(middleware, path, [(b"authorization", b"Bearer secret")]) == 200
    assert call(middleware, path, [(b"authorization", b"Bearer wrong")]) == 401


@pytest.mark.parametrize("path", sorted(PUBLIC_ROUTES) + ["/static_content/swagger-ui.css"])
def test_public_routes_need_no_key(path):
    middleware, reached = guard("secret")
    assert call(middleware, path) == 200 and reached == [path]


def test_without_a_key_configured_everything_is_open():
    middleware, _ = guard(None)
    assert call(middleware, "/predict") == 200




async def _answers(middleware, receive, count: int = 1) -> list[tuple[int, dict]]:
    """`count` concurrent requests to /predict; each one's status and JSON body."""
    async def one():
        sent = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "path": "/predict", "headers": [
            (b"content-type", b"application/json"), (b"content-length", b"2")]}
        await middleware(scope, receive, send)
        return sent[0]["status"], json.loads(sent[1]["body"])
    return await asyncio.gather(*(one() for _ in range(count)))


def test_beyond_max_concurrency_the_answer_is_429_in_the_contract():
    release = asyncio.Event()

    async def app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive():
        return {"type": "http.request", "body": b"{}"}

    async def run():
        middleware = ForecastGuard(app, settings_with(max_concurrency=2))
        waiting = asyncio.gather(*(_answers(middleware, receive) for _ in range(2)))
        await asyncio.sleep(0.05)
        (status, body), = await _answers(middleware, receive)
        release.set()
        return status, body, await waiting
    status, body, admitted = asyncio.run(run())
    assert status == 429 and body["field"] is None and "2 requests" in body["error"]
    assert [answer[0][0] for answer in admitted] == [200, 200]


def test_a_body_slower_than_the_minimum_rate_is_408():
    async def receive():  # a client that sent its headers and then nothing
        await asyncio.sleep(60)

    async def app(scope, receive, send):
        raise AssertionError("a request whose body never came must not reach the app")

    middleware = ForecastGuard(app, settings_with(body_timeout_s=0.1))
    (status, body), = asyncio.run(_answers(middleware, receive))
    assert status == 408 and body["field"] == "body"


def test_large_bodies_share_one_byte_rate():
    async def run() -> float:
        rate = LargeBodyRate(bytes_per_s=1000, burst_bytes=200)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await rate.take(150)  # within the burst: at once
        alone = loop.time() - start
        await asyncio.gather(*(rate.take(100) for _ in range(5)))  # 650 bytes: 450 over it
        return alone, loop.time() - start
    alone, flood = asyncio.run(run())
    assert alone < 0.05 and 0.4 < flood < 2


@pytest.mark.parametrize("status,source,expected", [
    (400, {"error": "2 validation errors for Input", "detail": [
        {"type": "float_type", "loc": ["series", 0, "y", 3], "msg": "Input should be a number"},
        {"type": "missing", "loc": ["horizon"], "msg": "Field required"}]},
     (422, "series[0].y[3]", "Input should be a number (1 more errors after it)")),
    (400, {"error": "1 validation error", "detail": [
        {"type": "json_invalid", "loc": [], "msg": "Invalid JSON"}]}, (422, "body", "Invalid JSON")),
    (404, "Not Found", (404, None, "Not Found")),
    (405, {"detail": "Method Not Allowed"}, (405, None, "Method Not Allowed")),
    (500, [{"error": "boom"}], (500, None, "boom")),
    (413, {"error": "too big", "field": "body"}, (413, "body", "too big")),
])
def test_every_error_answer_is_rewritten_into_the_contract(status, source, expected):
    raw = source.encode() if isinstance(source, str) else json.dumps(source).encode()
    got_status, payload = in_contract(status, raw, complete=True)
    body = json.loads(payload)
    assert (got_status, body["field"], body["error"]) == expected


def test_a_huge_error_answer_is_cut_to_a_few_kb():
    sent = []

    async def send(message):
        sent.append(message)

    async def run():
        wrapped = contract_send(send)
        await wrapped({"type": "http.response.start", "status": 400, "headers": []})
        for _ in range(100):  # 100 MB of BentoML detail, streamed
            await wrapped({"type": "http.response.body", "body": b"x" * 2**20, "more_body": True})
        await wrapped({"type": "http.response.body", "body": b""})
    asyncio.run(run())
    assert sent[0]["status"] == 400 and len(sent[1]["body"]) < 4096
    assert set(json.loads(sent[1]["body"])) == {"error", "field"}
