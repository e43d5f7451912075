"""ASGI middleware in front of every endpoint, in this order:

1. the API key on every route but a named public list (safe by default: a route added later
   is protected unless it is added to PUBLIC_ROUTES);
2. 413 for a body over the limit (counted on the bytes received, chunked bodies too) and 415
   for a body that is not JSON;
3. the body read before admission, and cut with 408 when it arrives slower than a minimum
   rate: slow uploads never hold a slot a forecast could use. Bytes past the first
   `large_body_bytes` of a body share one rate per worker (`LargeBodyRate`);
4. admission: at most `max_concurrency` requests in the service, 429 beyond (BentoML's own
   limit counted requests still uploading, so 512 slow bodies locked everyone out);
5. the error contract (`errors.contract_send`) on every answer, public routes included.
"""

from __future__ import annotations

import asyncio
import hmac

from .errors import contract_send, send_error
from .settings import ServiceSettings

# health probes, metrics, the OpenAPI document and its UI, and what the model is
PUBLIC_ROUTES = frozenset({"/livez", "/readyz", "/healthz", "/metrics", "/", "/docs",
                           "/docs.json", "/schema.json", "/model"})
PUBLIC_PREFIXES = ("/static_content/", "/assets/")  # the Swagger UI's files
UNADMITTED = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})  # never refused with 429


def is_public(path: str) -> bool:
    return path in PUBLIC_ROUTES or path.startswith(PUBLIC_PREFIXES)


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(Exception):
    pass


class LargeBodyRate:
    """Parsing a body holds the event loop (about 5 ms per MiB, in pydantic's Rust, which
    keeps the GIL): four clients sending 4 MB bodies in a loop took 80% of it, and ordinary
    forecasts waited behind them (p99 360 ms). Bytes of large bodies pass at `bytes_per_s`
    per worker after a burst of `burst_bytes` (a token bucket, kept as the time it is next
    empty: the generic cell rate algorithm), first come first served; a lone large body
    never waits, and a body under the threshold never comes here."""

    def __init__(self, bytes_per_s: float, burst_bytes: float):
        self.bytes_per_s, self.burst_s = bytes_per_s, burst_bytes / bytes_per_s
        self.empty_at = 0.0  # loop time at which the bucket would hold no bytes

    async def take(self, size: int) -> None:
        now = asyncio.get_running_loop().time()
        self.empty_at = max(self.empty_at, now) + size / self.bytes_per_s
        wait = self.empty_at - now - self.burst_s
        if wait > 0:
            await asyncio.sleep(wait)


class ForecastGuard:
    def __init__(self, app, settings: ServiceSettings | None = None):
        self.app = app
        settings = settings or ServiceSettings.from_env()
        self.api_key, self.max_body_bytes = settings.api_key, settings.max_body_bytes
        self.body_timeout_s, self.body_min_rate = settings.body_timeout_s, settings.body_min_rate
        self.max_concurrency = settings.max_concurrency
        self.large_body_bytes = settings.large_body_bytes
        self.large_bodies = LargeBodyRate(settings.large_body_rate, settings.large_body_rate)
        self.in_service = 0

    def _authorised(self, headers: dict[bytes, bytes]) -> bool:
        """Compared as bytes: a header that is not UTF-8 is simply a wrong key."""
        if self.api_key is None:
            return True
        given = headers.get(b"x-api-key", b"")
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() == b"bearer ":
            given = auth[7:]
        return hmac.compare_digest(given, self.api_key.encode())

    async def _read_body(self, receive) -> tuple[list[dict], int]:
        """The whole body and its size, counted as it arrives. It must arrive within
        `body_timeout_s`, plus a second for every `body_min_rate` bytes received."""
        loop = asyncio.get_running_loop()
        start, messages, total = loop.time(), [], 0
        while True:
            deadline = start + self.body_timeout_s + total / self.body_min_rate
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow from None
            messages.append(message)
            if message["type"] != "http.request":
                return messages, total
            size = len(message.get("body", b""))
            total += size
            if total > self.max_body_bytes:
                raise BodyTooLarge
            if total > self.large_body_bytes:
                await self.large_bodies.take(min(size, total - self.large_body_bytes))
            if not message.get("more_body", False):
                return messages, total

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        send = contract_send(send)
        path = scope["path"]
        if is_public(path):
            return await self._admit(scope, receive, send)
        headers = dict(scope["headers"])
        if not self._authorised(headers):
            return await send_error(send, 401, "missing or wrong API key: send 'Authorization: "
                                    "Bearer <key>' or 'X-API-Key: <key>'", "authorization")
        length = headers.get(b"content-length", b"")
        too_large = f"request body exceeds {self.max_body_bytes} bytes"
        if length.isdigit() and int(length) > self.max_body_bytes:
            return await send_error(send, 413, too_large, "body")
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        not_json = ("the body must be JSON: send 'Content-Type: application/json'",
                    "content-type")
        declared = (length.isdigit() and int(length) > 0) or b"transfer-encoding" in headers
        if declared and content_type != b"application/json":
            return await send_error(send, 415, *not_json)
        try:
            messages, size = await self._read_body(receive)
        except BodyTooLarge:
            return await send_error(send, 413, too_large, "body")
        except BodyTooSlow:
            return await send_error(
                send, 408, f"the body did not arrive in time: expected it within "
                f"{self.body_timeout_s:g} s plus 1 s per {self.body_min_rate} bytes", "body",
                [(b"connection", b"close")])
        if size == 0:  # no body: judged as JSON `{}`, whatever type the client declared
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"]
                                          if k not in (b"content-type", b"content-length")]}
        elif content_type != b"application/json":
            return await send_error(send, 415, *not_json)

        async def replay():
            return messages.pop(0) if messages else await receive()

        return await self._admit(scope, replay, send)

    async def _admit(self, scope, receive, send):
        """Into the service, or 429 when `max_concurrency` requests are in it already."""
        if scope["path"] in UNADMITTED:
            return await self.app(scope, receive, send)
        if self.in_service >= self.max_concurrency:
            return await send_error(send, 429, f"{self.max_concurrency} requests are in "
                                    "progress; retry after a short wait", None,
                                    [(b"retry-after", b"1")])
        self.in_service += 1
        try:
            return await self.app(scope, receive, send)
        finally:
            self.in_service -= 1
