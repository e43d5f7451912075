"""ASGI middleware: API key on every route but a named public list, body-size limit counted
on the bytes received (chunked bodies too), 415 for bodies that are not JSON, 422 for bad
bodies.

Safe by default: a route added later is protected unless it is added to PUBLIC_ROUTES.
BentoML answers request-schema errors with 400; the contract is 422 (field + reason), so the
status is rewritten, leaving BentoML's JSON detail intact.
"""

from __future__ import annotations

import hmac
import json

from .settings import ServiceSettings

# health probes, metrics, the OpenAPI document and its UI, and what the model is
PUBLIC_ROUTES = frozenset({"/livez", "/readyz", "/healthz", "/metrics", "/", "/docs",
                           "/docs.json", "/schema.json", "/model"})
PUBLIC_PREFIXES = ("/static_content/", "/assets/")  # the Swagger UI's files


def is_public(path: str) -> bool:
    return path in PUBLIC_ROUTES or path.startswith(PUBLIC_PREFIXES)


async def _send_json(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


class ForecastGuard:
    def __init__(self, app, settings: ServiceSettings | None = None):
        self.app = app
        settings = settings or ServiceSettings.from_env()
        self.api_key, self.max_body_bytes = settings.api_key, settings.max_body_bytes

    def _authorised(self, headers: dict[bytes, bytes]) -> bool:
        """Compared as bytes: a header that is not UTF-8 is simply a wrong key."""
        if self.api_key is None:
            return True
        given = headers.get(b"x-api-key", b"")
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() == b"bearer ":
            given = auth[7:]
        return hmac.compare_digest(given, self.api_key.encode())

    async def _read_body(self, receive) -> list[dict] | None:
        """The whole body, counted as it arrives; None as soon as it passes the limit."""
        messages, total = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages
            total += len(message.get("body", b""))
            if total > self.max_body_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or is_public(scope["path"]):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if not self._authorised(headers):
            return await _send_json(send, 401, {
                "error": "missing or wrong API key: send 'Authorization: Bearer <key>' or "
                         "'X-API-Key: <key>'", "field": "authorization"})
        length = headers.get(b"content-length", b"")
        too_large = {"error": f"request body exceeds {self.max_body_bytes} bytes",
                     "field": "body"}
        if length.isdigit() and int(length) > self.max_body_bytes:
            return await _send_json(send, 413, too_large)
        has_body = (length.isdigit() and int(length) > 0) or b"transfer-encoding" in headers
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if has_body and content_type != b"application/json":
            return await _send_json(send, 415, {
                "error": "the body must be JSON: send 'Content-Type: application/json'",
                "field": "content-type"})
        messages = await self._read_body(receive)
        if messages is None:
            return await _send_json(send, 413, too_large)

        async def replay():
            return messages.pop(0) if messages else await receive()

        async def send_422_for_400(message):
            if message["type"] == "http.response.start" and message["status"] == 400:
                message = {**message, "status": 422}
            await send(message)

        return await self.app(scope, replay, send_422_for_400)
