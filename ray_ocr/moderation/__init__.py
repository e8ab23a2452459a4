"""Keyword moderation: evasion-resistant matching, verdicts and evidence images (no Ray)."""

from ray_ocr.moderation.keywords import (
    KeywordFileError,
    KeywordIssue,
    KeywordLibrary,
    KeywordLibraryHolder,
)
from ray_ocr.moderation.matcher import LineHit
from ray_ocr.moderation.moderator import FrameHit, Moderator, lines_adjacent, reason, verdict
from ray_ocr.moderation.normalize import fold

__all__ = [
    "FrameHit", "KeywordFileError", "KeywordIssue", "KeywordLibrary", "KeywordLibraryHolder",
    "LineHit", "Moderator", "fold", "lines_adjacent", "reason", "verdict",
]
