"""Request body limits enforced while the body streams in, never after reading it all.

A declared ``Content-Length`` over the limit is refused before a byte of the body is read;
a chunked body is counted as it arrives and the request fails with 413 the moment it passes
the limit (whatever the handler was doing with it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ray_ocr.serve.errors import error_body

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"request body larger than {limit} bytes")
        self.limit = limit


def _header(scope: dict, name: bytes) -> bytes | None:
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return v
    return None


async def _send_error(send: Any, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await send({
        "type": "http.response.start", "status": status,
        # The rest of an over-limit body is never read, so the connection cannot be reused.
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": body})


def too_large_message(limit: int) -> str:
    return f"request body exceeds the limit of {limit} bytes"


class BodyLimit:
    """ASGI middleware; ``limit_for(scope)`` gives the byte limit of a request's body."""

    def __init__(self, app: Any, limit_for: Callable[[dict], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                n = int(declared)
                if n < 0:
                    raise ValueError
            except ValueError:
                await _send_error(send, 400, "bad_request", "invalid Content-Length header")
                return
            if n > limit:
                await _send_error(send, 413, "payload_too_large", too_large_message(limit))
                return
        seen = 0
        exceeded = False
        replied = False

        async def limited_receive() -> dict:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: dict) -> None:
            nonlocal replied
            if exceeded:
                # Whatever the app answers to a body cut short, the client gets the 413.
                if not replied:
                    replied = True
                    await _send_error(send, 413, "payload_too_large", too_large_message(limit))
                return
            if message["type"] == "http.response.start":
                replied = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not replied:
            await _send_error(send, 413, "payload_too_large", too_large_message(limit))
