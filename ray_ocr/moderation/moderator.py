"""Frame-level moderation glue for the scheduler: lines of one frame → hits → verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ray_ocr.moderation.keywords import KeywordLibrary, KeywordLibraryHolder
from ray_ocr.moderation.matcher import LineHit
from ray_ocr.schemas import TextLine, Verdict, VideoHit


@dataclass(frozen=True, slots=True)
class FrameHit:
    """A keyword in one frame: the span covers lines ``line..end_line`` (one line unless
    the phrase was split), ``text`` is the original characters that matched, ``line_text``
    the full text of the lines involved (what a reviewer reads)."""

    keyword: str
    category: str
    line: int
    start: int
    end_line: int
    end: int
    text: str
    line_text: str

    @property
    def line_indices(self) -> range:
        return range(self.line, self.end_line + 1)

    def to_video_hit(self, ts: float, frame_index: int | None = None, evidence: str | None = None) -> VideoHit:
        return VideoHit(
            keyword=self.keyword, category=self.category, ts=ts, text=self.line_text,
            evidence=evidence, frame_index=frame_index,
        )


def _bbox(box: Sequence[Sequence[float]]) -> tuple[float, float, float, float]:
    xs = [p[0] for p in box]
    ys = [p[1] for p in box]
    return min(xs), min(ys), max(xs), max(ys)


def lines_adjacent(a: TextLine, b: TextLine) -> bool:
    """Whether ``b`` may continue ``a``'s text: the next row of a block (just below and
    overlapping horizontally) or the next box on the same row (just to the right). Keeps
    unrelated lines of a frame (a watermark and a subtitle) from being read as one phrase."""
    ax0, ay0, ax1, ay1 = _bbox(a.box)
    bx0, by0, bx1, by1 = _bbox(b.box)
    h = max(1.0, min(ay1 - ay0, by1 - by0))
    v_overlap = min(ay1, by1) - max(ay0, by0)
    h_overlap = min(ax1, bx1) - max(ax0, bx0)
    same_row = v_overlap >= 0.5 * h and -0.5 * h <= bx0 - ax1 <= 2.0 * h
    next_row = -0.5 * h <= by0 - ay1 <= 1.0 * h and h_overlap > 0
    return same_row or next_row


class Moderator:
    """Matches the OCR lines of a frame against the current keyword library."""

    def __init__(self, keywords: KeywordLibrary | KeywordLibraryHolder):
        self.holder = keywords if isinstance(keywords, KeywordLibraryHolder) else KeywordLibraryHolder(keywords)

    @property
    def version(self) -> str:
        return self.holder.version

    def check_texts(self, texts: Sequence[str], joinable: Sequence[bool] | None = None) -> list[FrameHit]:
        lib = self.holder.current  # one library for the whole frame, even during a swap
        return [_frame_hit(h, texts) for h in lib.match_lines(texts, joinable)]

    def check_frame(self, lines: Sequence[TextLine]) -> list[FrameHit]:
        texts = [ln.text for ln in lines]
        joinable = [lines_adjacent(lines[i], lines[i + 1]) for i in range(len(lines) - 1)]
        return self.check_texts(texts, joinable)


def _frame_hit(h: LineHit, texts: Sequence[str]) -> FrameHit:
    line_text = "".join(texts[h.line : h.end_line + 1])
    return FrameHit(h.keyword, h.category, h.line, h.start, h.end_line, h.end, h.text(texts), line_text)


def verdict(hits: Sequence[object]) -> Verdict:
    """Any keyword hit rejects the video; a human makes the final call during review."""
    return Verdict.REJECT if hits else Verdict.PASS


def reason(hits: Sequence[FrameHit | VideoHit]) -> str | None:
    """A one-line human summary of why a video was rejected (None when it passed)."""
    if not hits:
        return None
    cats: dict[str, list[str]] = {}
    for h in hits:
        kws = cats.setdefault(h.category or "default", [])
        if h.keyword not in kws:
            kws.append(h.keyword)
    return "; ".join(f"{cat}: {', '.join(kws)}" for cat, kws in cats.items())
