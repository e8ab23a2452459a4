"""The API's one error shape, ``{"error": {"code", "message"}}``, for every 4xx/5xx.

Every failure path ends here: our own :class:`ApiError`, FastAPI's request validation,
Starlette's HTTP errors (404 route, 405 method) and, through :class:`ErrorShield`, any
exception a handler did not expect (logged server-side with a request id; the client sees
the id, never a stack trace).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("ray_ocr.serve")

_CODE_OF_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "gateway_timeout",
}


class ApiError(Exception):
    """An error the client caused or should know about; becomes the error JSON."""

    def __init__(self, status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    return {"error": err}


def error_response(status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body", "query", "path")) or "body"


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors()[:20]:
        # Only field, type and message: pydantic's "input"/"ctx" may echo large or secret input.
        out.append({"field": _loc(e.get("loc", ())), "type": e.get("type", ""), "message": e.get("msg", "")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        if any(d["type"] in ("json_invalid", "json_type") for d in details):
            return error_response(400, "invalid_json", "request body is not valid JSON", details)
        msg = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5]) or "invalid request"
        return error_response(422, "invalid_request", msg, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODE_OF_STATUS.get(exc.status_code, "error")
        msg = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, msg, headers=getattr(exc, "headers", None))


class ErrorShield:
    """Outermost ASGI middleware: an unexpected exception becomes a 500 with the error shape
    (if nothing was sent yet) and a server-side log line with the traceback."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:  # noqa: BLE001 - the whole point: nothing escapes to the client
            rid = uuid.uuid4().hex[:12]
            log.exception("unhandled error in %s %s (request %s)", scope.get("method"), scope.get("path"), rid)
            if not started:
                body = json.dumps(error_body("internal_error", f"internal error (request {rid}); see server logs")).encode()
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
