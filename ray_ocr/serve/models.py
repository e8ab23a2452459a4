"""Request and response bodies of the HTTP API (DESIGN.md "Contracts"). Requests forbid
unknown fields, so a typo in a field name is an error rather than silently ignored."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

VIDEO_ID_PATTERN = r"^[A-Za-z0-9._-]+$"
API_STATES = ("queued", "running", "done", "error", "expired")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SubmitRequest(_Strict):
    uri: str = Field(min_length=1, max_length=4096, description="a path under the server's allowed roots (or file:// URI), or an http(s) URL the server downloads")
    video_id: str | None = Field(None, min_length=1, max_length=128, pattern=VIDEO_ID_PATTERN)
    submitted_at: float | None = Field(None, ge=0, le=1e11, description="unix seconds; newest is processed first (default: now)")
    metadata: dict[str, Any] = Field(default_factory=dict)


class HitOut(BaseModel):
    keyword: str
    category: str = ""
    ts: float
    text: str
    frame_index: int | None = None
    evidence: str | None = Field(None, description="URL of the marked-up JPEG (needs the bearer token)")


class SubmitResponse(BaseModel):
    video_id: str
    state: Literal["queued", "running", "done", "error", "expired"]
    verdict: str | None = Field(None, description="set when the answer is already known (a duplicate of a finished video)")
    duplicate_of: str | None = None
    hits: list[HitOut] | None = None


class ReviewOut(BaseModel):
    id: int
    video_id: str
    decision: Literal["pass", "reject"]
    reviewer: str
    note: str
    created_at: float


class VideoStatus(BaseModel):
    video_id: str
    state: Literal["queued", "running", "done", "error", "expired"]
    verdict: str | None = None
    hits: list[HitOut] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    reason: str | None = None
    duplicate_of: str | None = None
    md5: str | None = None
    submitted_at: float | None = None
    keyframes: int | None = None
    ocr_frames: int | None = None
    review: ReviewOut | None = Field(None, description="the latest human decision, if any")


class ReviewRequest(_Strict):
    decision: Literal["pass", "reject"]
    reviewer: str = Field(min_length=1, max_length=128, pattern=r"\S")
    note: str = Field("", max_length=4000)


class KeywordsOut(BaseModel):
    version: int
    hash: str
    count: int
    updated_at: float
    text: str | None = None
    applied: bool | None = Field(None, description="PUT only: whether the pipeline confirmed it will use this version for the next video")


class KeywordsRequest(_Strict):
    text: str = Field(description="the whole keyword file: keyword[<TAB>category[<TAB>flags]] per line, # comments")
    expected_version: int | None = Field(None, ge=0, description="optimistic concurrency: fail with 409 unless this is the live version")


class SearchResult(BaseModel):
    video_id: str
    frame_index: int
    ts: float
    text: str
    score: float


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult]
    truncated: bool


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorDetail
