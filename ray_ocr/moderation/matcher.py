"""Aho-Corasick matching over folded text, with hits mapped back to original spans.

The hot path per text is ``fold_key`` (one ``str.translate`` into the automaton's UTF-8-byte
alphabet, see normalize.py) plus one automaton scan; the per-character index map is only
built for texts that produced a candidate hit, which is rare.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import ahocorasick

from ray_ocr.moderation.normalize import edge_class, fold_key, fold_key_with_map, is_ascii_alnum, to_key
from ray_ocr.schemas import KeywordHit


@dataclass(frozen=True, slots=True)
class Pattern:
    """One string in the automaton: a keyword's fold, a pinyin form of it, or an allow phrase."""

    entry: int  # index into the library's keywords (or allow phrases when allow is True)
    length: int  # length of the pattern in key units (UTF-8 bytes of the folded pattern)
    allow: bool = False
    # Latin/digit edges need a word boundary in the original text so "sex" stays out of
    # "Sussex"; CJK edges do not (Chinese has no spaces between words).
    check_start: bool = False
    check_end: bool = False


@dataclass(frozen=True, slots=True)
class LineHit:
    """A hit in a list of OCR lines: starts at ``start`` of line ``line`` and ends before
    ``end`` of line ``end_line`` (original, unfolded character offsets)."""

    keyword: str
    category: str
    line: int
    start: int
    end_line: int
    end: int

    @property
    def single_line(self) -> bool:
        return self.line == self.end_line

    def text(self, lines: Sequence[str]) -> str:
        """The original characters of the hit (joined with no separator across lines)."""
        if self.single_line:
            return lines[self.line][self.start : self.end]
        parts = [lines[self.line][self.start :]]
        parts += [lines[i] for i in range(self.line + 1, self.end_line)]
        parts.append(lines[self.end_line][: self.end])
        return "".join(parts)

    def to_keyword_hit(self) -> KeywordHit:
        if not self.single_line:
            raise ValueError("a hit spanning several lines has no single-text span")
        return KeywordHit(keyword=self.keyword, category=self.category, start=self.start, end=self.end)


class Matcher:
    """An immutable automaton over folded patterns (``patterns`` is keyed by the folded
    string; Pattern.length is ignored and recomputed). ``keywords`` holds (keyword, category)."""

    def __init__(self, patterns: dict[str, list[Pattern]], keywords: Sequence[tuple[str, str]]):
        self._keywords = tuple(keywords)
        self._automaton = ahocorasick.Automaton()
        for folded, pats in patterns.items():
            key = to_key(folded)
            self._automaton.add_word(key, tuple(
                Pattern(p.entry, len(key), p.allow, p.check_start, p.check_end) for p in pats))
        self._empty = len(patterns) == 0
        if not self._empty:
            self._automaton.make_automaton()

    # -- raw scan --------------------------------------------------------------------------

    def _scan(self, folded: str) -> list[tuple[int, int, Pattern]] | None:
        """Keyword candidates [s, e) in folded coordinates with allow-listed ones removed;
        None when nothing fired (the common case, kept allocation-free)."""
        if self._empty or not folded:
            return None
        found = None
        for last, pats in self._automaton.iter(folded):
            if found is None:
                found = []
            for p in pats:
                found.append((last + 1 - p.length, last + 1, p))
        if found is None:
            return None
        allowed = [(s, e) for s, e, p in found if p.allow]
        cands = [
            (s, e, p)
            for s, e, p in found
            if not p.allow and not any(a <= s and e <= b for a, b in allowed)
        ]
        return cands or None

    # -- one text ----------------------------------------------------------------------------

    def match(self, text: str) -> list[KeywordHit]:
        cands = self._scan(fold_key(text))
        if cands is None:
            return []
        _, index = fold_key_with_map(text)
        hits = {}
        for s, e, p in cands:
            start, end = index[s], index[e - 1] + 1
            if not _boundary_ok(text, start, end, p):
                continue
            kw, cat = self._keywords[p.entry]
            hits[(start, end, kw)] = KeywordHit(keyword=kw, category=cat, start=start, end=end)
        return sorted(hits.values(), key=lambda h: (h.start, -(h.end - h.start), h.keyword))

    # -- lines of one frame --------------------------------------------------------------------

    def match_lines(self, lines: Sequence[str], joinable: Sequence[bool] | None = None) -> list[LineHit]:
        """Hits in each line and across neighbouring lines. ``joinable[i]`` says whether
        line i and line i+1 may be read as one text (default: every neighbour pair), so a
        phrase split over two lines of a subtitle is still found."""
        if joinable is not None and len(joinable) != max(len(lines) - 1, 0):
            raise ValueError(f"joinable must have len(lines)-1 = {len(lines) - 1} entries, got {len(joinable)}")
        hits: list[LineHit] = []
        first = 0
        for i in range(len(lines)):
            last_of_group = i == len(lines) - 1 or (joinable is not None and not joinable[i])
            if last_of_group:
                self._match_group(lines, first, i + 1, hits)
                first = i + 1
        hits.sort(key=lambda h: (h.line, h.start, h.keyword))
        return hits

    def _match_group(self, lines: Sequence[str], lo: int, hi: int, out: list[LineHit]) -> None:
        folded = [fold_key(t) for t in lines[lo:hi]]
        cands = self._scan("".join(folded))
        if cands is None:
            return
        offsets = []  # folded start offset of each line in the joined text
        pos = 0
        for f in folded:
            offsets.append(pos)
            pos += len(f)
        maps: dict[int, list[int]] = {}

        def locate(k: int) -> tuple[int, int]:
            """(line, original index) of folded joined position k."""
            j = bisect.bisect_right(offsets, k) - 1
            while len(folded[j]) == 0 or k - offsets[j] >= len(folded[j]):  # skip empty lines
                j += 1
            if j not in maps:
                maps[j] = fold_key_with_map(lines[lo + j])[1]
            return j, maps[j][k - offsets[j]]

        seen = set()
        for s, e, p in cands:
            ls, start = locate(s)
            le, last = locate(e - 1)
            end = last + 1
            if p.check_start and start > 0 and not _edge_ok(lines[lo + ls], start, start - 1):
                continue
            if p.check_end and end < len(lines[lo + le]) and not _edge_ok(lines[lo + le], end - 1, end):
                continue
            kw, cat = self._keywords[p.entry]
            key = (lo + ls, start, lo + le, end, kw)
            if key not in seen:
                seen.add(key)
                out.append(LineHit(kw, cat, lo + ls, start, lo + le, end))


def _edge_ok(text: str, inner: int, outer: int) -> bool:
    """False when the character just outside a Latin/digit keyword continues the same word
    (a letter next to a letter, a digit next to a digit)."""
    ci = edge_class(text[inner])
    return not ci or edge_class(text[outer]) != ci


def _boundary_ok(text: str, start: int, end: int, p: Pattern) -> bool:
    if p.check_start and start > 0 and not _edge_ok(text, start, start - 1):
        return False
    if p.check_end and end < len(text) and not _edge_ok(text, end - 1, end):
        return False
    return True


def pattern_edges(folded: str) -> tuple[bool, bool]:
    return is_ascii_alnum(folded[0]), is_ascii_alnum(folded[-1])
