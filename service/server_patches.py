"""Where BentoML 1.4 and uvicorn 0.54 fall short of the service's contract, fixed at the
one place each happens. `install()` runs when the service module is imported, before BentoML
builds its app in the worker; each patch is small and says what it fixes.

* Metrics: BentoML labels request metrics with the raw path, so every unknown path a
  client tried became new Prometheus series (3,000 random 401s took /metrics from 40k to 100k
  series and its scrape to 7 s). Unknown paths now share one label, `other`.
* Header timeout: uvicorn has none (its keep-alive timeout starts only after a response), so
  a connection that sends half its headers was held forever. Headers must now complete
  within FORECAST_HEADER_TIMEOUT seconds of the connection's (or the request's) first byte,
  or the answer is 408 and the connection is closed.
* Malformed HTTP: uvicorn answered a plain-text 400; it is now the error contract's JSON.
"""

from __future__ import annotations

from collections.abc import Iterable

from bentoml._internal.server.http import instruments
from uvicorn.protocols.http import h11_impl, httptools_impl

from .errors import error_body

OTHER = "other"  # the metrics label of every path that is not a route
PATH_KEY = "forecast.path"


class _RestorePath:
    """Inside the metrics middleware: the app sees the path the client sent."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if PATH_KEY in scope:
            scope = {**scope, "path": scope[PATH_KEY]}
        await self.app(scope, receive, send)


def bounded_metrics(routes: frozenset[str]) -> type:
    base = instruments.RunnerTrafficMetricsMiddleware

    class BoundedLabelMetrics(base):
        def __init__(self, app, **options):
            super().__init__(_RestorePath(app), **options)

        async def __call__(self, scope, receive, send):
            if scope["type"] == "http" and scope["path"] not in routes:
                scope = {**scope, "path": OTHER, PATH_KEY: scope["path"]}
            await super().__call__(scope, receive, send)

    BoundedLabelMetrics.__name__ = base.__name__
    return BoundedLabelMetrics


def _raw_error(status: int, reason: bytes, error: str) -> bytes:
    body = error_body(error)
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n" % (status, reason, len(body))) + body


def _header_timeout(protocol_cls: type, timeout_s: float) -> None:
    made, begin = protocol_cls.connection_made, protocol_cls.on_message_begin
    complete, lost = protocol_cls.on_headers_complete, protocol_cls.connection_lost
    answer = _raw_error(408, b"Request Timeout", f"the request's headers did not arrive "
                        f"within {timeout_s:g} s (FORECAST_HEADER_TIMEOUT)")

    def expire(self) -> None:
        self._forecast_header_timer = None
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()

    def arm(self) -> None:
        if getattr(self, "_forecast_header_timer", None) is None:
            self._forecast_header_timer = self.loop.call_later(timeout_s, expire, self)

    def disarm(self) -> None:
        timer = getattr(self, "_forecast_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._forecast_header_timer = None

    def connection_made(self, transport) -> None:
        made(self, transport)
        arm(self)

    def on_message_begin(self) -> None:
        begin(self)
        arm(self)

    def on_headers_complete(self) -> None:
        disarm(self)
        complete(self)

    def connection_lost(self, exc) -> None:
        disarm(self)
        lost(self, exc)

    protocol_cls.connection_made, protocol_cls.on_message_begin = connection_made, on_message_begin
    protocol_cls.on_headers_complete, protocol_cls.connection_lost = (on_headers_complete,
                                                                      connection_lost)
    protocol_cls._forecast_header_timeout = timeout_s


def _json_400(self, msg: str) -> None:
    self.transport.write(_raw_error(400, b"Bad Request", f"{msg.rstrip('.')}: expected "
                                    "HTTP/1.1 (request line, headers, body)"))
    self.transport.close()


def install(routes: Iterable[str], header_timeout_s: float) -> None:
    """Install the three patches (idempotent: a second call changes nothing)."""
    if not getattr(instruments.RunnerTrafficMetricsMiddleware, "_forecast", False):
        patched = bounded_metrics(frozenset(routes))
        patched._forecast = True
        instruments.RunnerTrafficMetricsMiddleware = patched
    protocol = httptools_impl.HttpToolsProtocol
    if not hasattr(protocol, "_forecast_header_timeout"):
        _header_timeout(protocol, header_timeout_s)
    protocol.send_400_response = _json_400
    h11_impl.H11Protocol.send_400_response = _json_400
