"""The request timeout that replaces BentoML's: same answers, and no timer left behind."""

import asyncio
import json

import pytest
from bentoml._internal.server.http import traffic

from service.timeout import CancellingTimeoutMiddleware


def app_sleeping(seconds: float, respond: bool = True):
    async def app(scope, receive, send):
        await asyncio.sleep(seconds)
        if respond:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
    return app


async def call(app, timeout: float) -> tuple[list[dict], int]:
    """Run one request through the middleware; also return the timers still scheduled."""
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    await CancellingTimeoutMiddleware(app, timeout=timeout)(
        {"type": "http", "path": "/predict", "method": "POST", "headers": []}, receive, send)
    timers = asyncio.get_running_loop()._scheduled  # the default loop's timer heap
    return sent, sum(not timer.cancelled() for timer in timers)


def test_fast_request_answers_and_cancels_its_timer():
    sent, pending_timers = asyncio.run(call(app_sleeping(0), timeout=60))
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [200]
    assert pending_timers == 0  # BentoML's own middleware leaves one per request for 60 s


def test_slow_request_gets_504_with_json_body():
    sent, _ = asyncio.run(call(app_sleeping(5), timeout=0.05))
    assert sent[0]["status"] == 504
    assert json.loads(sent[1]["body"]) == {"error": "not able to process the request in 0.05 "
                                           "seconds", "field": None}


@pytest.mark.parametrize("seconds", [0, 0.01])
def test_app_ending_without_response_does_not_wait_for_the_timeout(seconds):
    async def timed():
        loop = asyncio.get_running_loop()
        start = loop.time()
        await call(app_sleeping(seconds, respond=False), timeout=30)
        return loop.time() - start
    assert asyncio.run(timed()) < 5


def test_service_import_installs_it():
    import service.service  # noqa: F401 - the import installs the middleware

    assert traffic.TimeoutMiddleware is CancellingTimeoutMiddleware
