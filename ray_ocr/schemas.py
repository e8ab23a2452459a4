"""Pydantic models shared by the CLI, the HTTP API, the store and the actors.

These are the boundary types of DESIGN.md's contracts; inside a stage plain dataclasses and
numpy arrays are used instead.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Point = tuple[float, float]


class Verdict(StrEnum):
    REJECT = "reject"
    PASS = "pass"
    DUPLICATE = "duplicate"
    ERROR = "error"
    EXPIRED = "expired"


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    EXPIRED = "expired"
    DUPLICATE = "duplicate"


class TextLine(BaseModel):
    """One recognised line: text, confidence and its quadrilateral in frame pixels
    (clockwise from top-left)."""

    text: str
    score: float
    box: list[list[float]] = Field(min_length=4, max_length=4)


class ImageResult(BaseModel):
    path: str
    lines: list[TextLine]
    elapsed_ms: float


class KeyframeRef(BaseModel):
    index: int
    ts: float


class KeywordHit(BaseModel):
    """A keyword found in a text, with its [start, end) span in the original text."""

    keyword: str
    category: str
    start: int
    end: int


class VideoHit(BaseModel):
    keyword: str
    category: str = ""
    ts: float
    text: str
    evidence: str | None = None
    frame_index: int | None = None


def new_video_id() -> str:
    return uuid.uuid4().hex


class VideoTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    video_id: str = Field(default_factory=new_video_id, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
    uri: str
    submitted_at: float = Field(default_factory=time.time)
    metadata: dict[str, Any] = Field(default_factory=dict)


class VideoResult(BaseModel):
    video_id: str
    path: str
    md5: str | None = None
    verdict: Verdict
    hits: list[VideoHit] = Field(default_factory=list)
    keyframes: int = 0
    ocr_frames: int = 0
    elapsed_s: float = 0.0
    reason: str | None = None
    duplicate_of: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
