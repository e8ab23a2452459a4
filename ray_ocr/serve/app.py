"""The FastAPI app: routes, auth and limits around a :class:`Backend`.

`build_app(backend)` is a plain function so tests can drive the app in-process; the Serve
deployment (deployment.py) builds the same app on each replica.
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from ray_ocr.serve.backend import Backend
from ray_ocr.serve.errors import ApiError, ErrorShield, install_error_handlers
from ray_ocr.serve.limits import BodyLimit
from ray_ocr.serve.models import (
    VIDEO_ID_PATTERN,
    ErrorResponse,
    KeywordsOut,
    KeywordsRequest,
    ReviewOut,
    ReviewRequest,
    SearchResponse,
    SubmitRequest,
    SubmitResponse,
    VideoStatus,
)
from ray_ocr.serve.timing import ServerTiming

API_DESCRIPTION = """Reads the text burned into videos and flags banned keywords before human review.

Writes (`POST`, `PUT`), evidence images and search need `Authorization: Bearer <token>`
(`RAY_OCR_API_TOKEN`). Every error is `{"error": {"code", "message"}}` with a 4xx/5xx status.
"""
MULTIPART_SLACK = 64 * 1024
# Module level: with postponed annotations FastAPI resolves these names from module globals.
VideoId = Annotated[str, Path(min_length=1, max_length=128, pattern=VIDEO_ID_PATTERN)]
HitIndex = Annotated[int, Path(ge=0, le=100_000)]  # boundaries and small fields around an upload at the size limit


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorResponse} for s in statuses}


def _submit_openapi() -> dict[str, Any]:
    schema = SubmitRequest.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "additionalProperties": False,
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "video_id": {"type": "string", "pattern": VIDEO_ID_PATTERN, "maxLength": 128},
                            "submitted_at": {"type": "number"},
                            "metadata": {"type": "string", "description": "a JSON object"},
                        },
                    }
                },
            },
        }
    }


def build_app(backend: Backend) -> FastAPI:
    cfg = backend.cfg
    token = (cfg.api_token or "").encode()
    if not token:
        raise ValueError("build_app needs ServeSettings.api_token")

    app = FastAPI(title="ray-ocr", version="1", description=API_DESCRIPTION)
    app.state.backend = backend
    install_error_handlers(app)

    def body_limit(scope: dict) -> int:
        if scope.get("path") == "/v1/videos":
            for k, v in scope.get("headers", ()):
                if k == b"content-type" and v.lower().startswith(b"multipart/"):
                    return cfg.max_upload_bytes + MULTIPART_SLACK
            return cfg.max_json_bytes
        if scope.get("path") == "/v1/keywords":
            return cfg.max_keywords_bytes + MULTIPART_SLACK
        return cfg.max_json_bytes

    app.add_middleware(BodyLimit, limit_for=body_limit)
    app.add_middleware(ServerTiming)
    app.add_middleware(ErrorShield)  # added last = outermost

    # async: FastAPI runs a plain `def` dependency on a worker thread, a hop per request.
    async def require_token(request: Request) -> None:
        auth = request.headers.get("authorization")
        if not auth:
            raise ApiError(401, "missing_token", "this endpoint needs 'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})
        scheme, _, given = auth.partition(" ")
        # Constant-time compare: the time taken says nothing about how much of the token matched.
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
            raise ApiError(401, "invalid_token", "the bearer token is not valid", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    Auth = Depends(require_token)

    @app.post(
        "/v1/videos", status_code=202, response_model=SubmitResponse, dependencies=[Auth], openapi_extra=_submit_openapi(),
        responses={200: {"model": SubmitResponse, "description": "a duplicate of a finished video: its verdict"},
                   **_errors(400, 401, 403, 404, 409, 413, 415, 422, 502, 503, 504)},
        summary="Submit a video (JSON with a uri, or a multipart upload in field 'file')",
    )
    async def submit(request: Request) -> JSONResponse:
        ctype = request.headers.get("content-type", "")
        if ctype.lower().startswith("multipart/"):
            status, out = await backend.submit_upload(request.stream(), ctype)
        elif ctype.split(";")[0].strip().lower() in ("application/json", ""):
            raw = await request.body()
            try:
                data = json.loads(raw) if raw else None
            except (ValueError, UnicodeDecodeError):
                raise ApiError(400, "invalid_json", "request body is not valid JSON") from None
            if not isinstance(data, dict):
                raise ApiError(422, "invalid_request", "the body must be a JSON object with a 'uri'")
            req = _validate(SubmitRequest, data)
            status, out = await backend.submit_json(req)
        else:
            raise ApiError(415, "unsupported_media_type", "send application/json or multipart/form-data")
        return JSONResponse(out.model_dump(mode="json", exclude_none=True), status_code=status)

    @app.get("/v1/videos/{video_id}", response_model=VideoStatus, responses=_errors(404, 422))
    async def get_video(video_id: VideoId) -> VideoStatus:
        return await backend.status(video_id)

    @app.get(
        "/v1/videos/{video_id}/evidence/{n}", dependencies=[Auth], response_class=FileResponse,
        responses={200: {"content": {"image/jpeg": {}}, "description": "the marked-up frame of hit n"}, **_errors(401, 404, 422)},
    )
    async def get_evidence(video_id: VideoId, n: HitIndex) -> FileResponse:
        p = await backend.evidence(video_id, n)
        return FileResponse(p, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @app.post("/v1/videos/{video_id}/review", status_code=201, response_model=ReviewOut, dependencies=[Auth],
              responses=_errors(400, 401, 404, 409, 413, 422))
    async def post_review(video_id: VideoId, body: ReviewRequest) -> ReviewOut:
        return await backend.review(video_id, body)

    @app.get("/v1/keywords", response_model=KeywordsOut)
    async def get_keywords() -> KeywordsOut:
        return await backend.keywords_get()

    @app.put("/v1/keywords", response_model=KeywordsOut, dependencies=[Auth], responses=_errors(400, 401, 409, 413, 422))
    async def put_keywords(body: KeywordsRequest) -> KeywordsOut:
        return await backend.keywords_put(body.text, body.expected_version)

    @app.get("/v1/search", response_model=SearchResponse, dependencies=[Auth], responses=_errors(401, 422))
    async def search(
        q: Annotated[str, Query(min_length=1, max_length=200, description="substring of a recognised line (case-insensitive)")],
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> SearchResponse:
        return await backend.search(q, limit)

    @app.get("/v1/stats", responses=_errors(503))
    async def stats() -> dict[str, Any]:
        return await backend.stats()

    @app.get("/healthz", responses=_errors(503))
    async def healthz() -> dict[str, Any]:
        return await backend.health()

    return app


def _validate(model: Any, data: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "type": e["type"], "message": e["msg"]} for e in exc.errors()[:20]]
        msg = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        raise ApiError(422, "invalid_request", msg, details) from None
