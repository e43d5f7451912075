"""Authentication is on by default: every route needs the key except a named public list."""

from __future__ import annotations

import asyncio

import pytest

from service.middleware import PUBLIC_ROUTES, ForecastGuard
from service.settings import ServiceSettings


def guard(api_key: str | None) -> tuple[ForecastGuard, list]:
    reached = []

    async def app(scope, receive, send):
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    settings = ServiceSettings.from_env()
    settings = type(settings)(**{**vars(settings), "api_key": api_key})
    return ForecastGuard(app, settings), reached


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
