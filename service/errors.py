"""One error contract for every answer that is not 2xx: JSON `{"error", "field"}`, a few KB at
most, whoever produced it (this service, BentoML's schema validation, Starlette's 404 and 405),
and one log line at WARNING for a client's mistake instead of an ERROR with a traceback.

`contract_send` wraps an ASGI `send`: an answer of 400 or more is held, its body read (only
its first `MAX_SOURCE_BYTES`), and sent again in the contract. BentoML answers schema errors
with 400 and a `detail` list; the contract is 422 naming the first field at fault.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

MAX_ERROR_CHARS = 2000  # an error message; the whole answer stays far below 16 KB
MAX_SOURCE_BYTES = 64 * 1024  # of an answer to rewrite: longer ones are cut, never buffered


def error_body(error: str, field: str | None = None) -> bytes:
    if len(error) > MAX_ERROR_CHARS:
        error = error[:MAX_ERROR_CHARS] + " [cut]"
    return json.dumps({"error": error, "field": field}).encode()


async def send_json(send, status: int, payload: bytes,
                    headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """One whole JSON answer: `headers` plus its content type and length, then the body."""
    await send({"type": "http.response.start", "status": status,
                "headers": [*(headers or []), (b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


async def send_error(send, status: int, error: str, field: str | None = None,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send_json(send, status, error_body(error, field), headers)


def json_path(loc: list | tuple) -> str:
    """Pydantic's location as the JSON path the README uses: ('series', 0, 'y') ->
    'series[0].y'; the empty location (the body did not parse) is 'body'."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def _from_validation(detail: list) -> tuple[str, str | None]:
    first = detail[0] if detail and isinstance(detail[0], dict) else {}
    message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
    more = f" ({len(detail) - 1} more errors after it)" if len(detail) > 1 else ""
    return message + more, json_path(first.get("loc", ()))


def in_contract(status: int, source: bytes, complete: bool) -> tuple[int, bytes]:
    """(status, body) of an error answer in the contract, from whatever body it had."""
    default = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "error"
    try:
        parsed = json.loads(source) if complete and source else None
    except ValueError:
        parsed = None
    if isinstance(parsed, list) and parsed:  # BentoML wraps some errors in a list
        parsed = parsed[0]
    if isinstance(parsed, dict) and isinstance(parsed.get("detail"), list):
        error, field = _from_validation(parsed["detail"])
        return (422 if status == 400 else status), error_body(error, field)
    if isinstance(parsed, dict) and "error" in parsed:
        field = parsed.get("field")
        return status, error_body(str(parsed["error"]), field if isinstance(field, str) else None)
    if isinstance(parsed, dict) and isinstance(parsed.get("detail"), str):  # Starlette
        return status, error_body(parsed["detail"])
    text = source.decode("utf-8", "replace").strip() if source and parsed is None else ""
    return status, error_body(text or default)


def contract_send(send):
    """`send`, with every answer of 400 or more rewritten into the contract."""
    held: dict = {}
    chunks: list[bytes] = []
    size = 0

    async def wrapped(message) -> None:
        nonlocal size
        if message["type"] == "http.response.start" and message["status"] >= 400:
            held.update(message)
            return
        if not held or message["type"] != "http.response.body":
            await send(message)
            return
        body = message.get("body", b"")
        if size < MAX_SOURCE_BYTES:
            chunks.append(body[:MAX_SOURCE_BYTES - size])
        size += len(body)
        if message.get("more_body", False):
            return
        status, payload = in_contract(held["status"], b"".join(chunks), size <= MAX_SOURCE_BYTES)
        headers = [(k, v) for k, v in held.get("headers", [])
                   if k.lower() not in (b"content-type", b"content-length")]
        await send_json(send, status, payload, headers)

    return wrapped


class ClientErrorsAsWarnings(logging.Filter):
    """BentoML logs every request it could not parse as an ERROR with the traceback of the
    pydantic error, whose text holds every input value: one 16 MB body made 591 MB of log.
    A client's mistake is one WARNING line here; errors of the service keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or not _is_client_error(error):
            return True
        count = error.error_count() if hasattr(error, "error_count") else 1
        record.msg = "client error on %s: %s (%d errors)"
        record.args = (record.args[0] if record.args else "?",
                       str(error).splitlines()[0][:200], count)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True


def _is_client_error(error: BaseException) -> bool:
    from bentoml.exceptions import BentoMLException
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        return True
    return isinstance(error, BentoMLException) and 400 <= error.error_code.value < 500


def quiet_client_errors() -> None:
    """Install the filter on the loggers BentoML reports request errors to (idempotent)."""
    for name in ("bentoml._internal.server.http_app", "_bentoml_impl.server.app"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, ClientErrorsAsWarnings) for f in logger.filters):
            logger.addFilter(ClientErrorsAsWarnings())
