"""BentoML's request timeout, with its timer cancelled when the response starts.

BentoML 1.4's `TimeoutMiddleware` (always on: `traffic.timeout` must be positive) schedules a
`call_later` per request and never cancels it. Each timer keeps its request's future and
contextvars (tracing span included) alive for the whole timeout, 60 s by default: at 300
requests/s that is ~20k requests' worth of objects that every full garbage collection walks,
and the collector's pauses grew with it (100-300 ms, paid by every request in flight).

`install()` swaps this class in before the service builds its ASGI app. Behaviour is the same
otherwise: 504 with the error contract's body when no response started within the timeout.
"""

from __future__ import annotations

import asyncio

from bentoml._internal.server.http import traffic

from .errors import send_error


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _started(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


class CancellingTimeoutMiddleware(traffic.TimeoutMiddleware):
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, _expire, waiter)

        async def started_send(message) -> None:
            _started(waiter)
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, started_send))
        task.add_done_callback(lambda _: _started(waiter))  # finished without a response
        try:
            await waiter
        except TimeoutError:
            if task.cancel():
                await send_error(send, 504, "not able to process the request in "
                                 f"{self.timeout} seconds")
                return
        finally:
            timer.cancel()
        await task


def install() -> None:
    """Make BentoML build its apps with the cancelling middleware (idempotent)."""
    traffic.TimeoutMiddleware = CancellingTimeoutMiddleware
