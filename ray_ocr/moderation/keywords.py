"""The moderation keyword library: file format, validation, matching and hot swap.

File format (UTF-8, a leading BOM is tolerated), one entry a line::

    # comment (a line whose first non-blank character is '#')
    keyword                          category "default"
    keyword<TAB>category
    keyword<TAB>category<TAB>flags   flags: comma-separated; "pinyin" also matches the
                                     keyword written as pinyin initials (微信 → wx) or in
                                     full pinyin (weixin); opt-in because short initials
                                     are easy to hit by chance
    !phrase                          allow-list: a keyword hit lying inside an occurrence of
                                     this phrase does not fire (e.g. `!办法轮流` stops
                                     `法轮` firing in 办法轮流)

Matching is on folded text (see normalize.py): case, width, traditional/simplified,
look-alike characters, and all punctuation, spaces and emoji are ignored, so a keyword
needs no escaping and `微信`, `微 信` and `微@信` are the same keyword (a duplicate).
Categories are 1-32 word characters or '-' (e.g. ad, politics, 广告).

A library is immutable and carries a ``version`` (content hash of its canonical entries,
independent of comments and order); :class:`KeywordLibraryHolder` swaps libraries
atomically at run time.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ray_ocr.moderation.matcher import LineHit, Matcher, Pattern, pattern_edges
from ray_ocr.moderation.normalize import fold
from ray_ocr.schemas import KeywordHit

DEFAULT_CATEGORY = "default"
FLAGS = frozenset({"pinyin"})
MAX_KEYWORD_LEN = 64
MAX_PINYIN_VARIANTS = 8  # heteronyms multiply; cap the cartesian product
_CATEGORY_RE = re.compile(r"^[\w-]{1,32}$")
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002a6df]")


@dataclass(frozen=True, slots=True)
class KeywordEntry:
    keyword: str
    category: str
    line: int
    folded: str
    pinyin: bool = False


@dataclass(frozen=True, slots=True)
class AllowEntry:
    phrase: str
    line: int
    folded: str


@dataclass(frozen=True, slots=True)
class KeywordIssue:
    line: int
    message: str


class KeywordFileError(ValueError):
    """A keyword file failed validation; ``issues`` holds every problem with its line."""

    def __init__(self, source: str, issues: Sequence[KeywordIssue]):
        self.source = source
        self.issues = list(issues)
        super().__init__("\n".join(f"{source}:{i.line}: {i.message}" for i in self.issues))

    def __reduce__(self):  # several constructor arguments: pickle them, so it crosses Ray intact
        return (type(self), (self.source, self.issues))


def _pinyin_forms(keyword: str) -> list[str]:
    """Folded initials and full-pinyin spellings of a keyword (non-Han parts kept as is)."""
    from pypinyin import Style, pinyin

    forms: set[str] = set()
    for style in (Style.FIRST_LETTER, Style.NORMAL):
        segments = pinyin(keyword, style=style, heteronym=True, errors="default")
        for combo in itertools.islice(itertools.product(*segments), MAX_PINYIN_VARIANTS):
            forms.add(fold("".join(combo)))
    return sorted(f for f in forms if len(f) >= 2)


class KeywordLibrary:
    """Validated keywords plus an allow-list, compiled into one Aho-Corasick automaton."""

    __slots__ = ("entries", "allow", "version", "source", "_text", "_matcher")

    def __init__(self, entries: Sequence[KeywordEntry], allow: Sequence[AllowEntry], *, text: str, source: str):
        self.entries: tuple[KeywordEntry, ...] = tuple(entries)
        self.allow: tuple[AllowEntry, ...] = tuple(allow)
        self.source = source
        self._text = text
        canon = sorted(
            [f"k\t{e.folded}\t{e.keyword}\t{e.category}\t{int(e.pinyin)}" for e in self.entries]
            + [f"a\t{a.folded}" for a in self.allow]
        )
        self.version = hashlib.sha256("\n".join(canon).encode()).hexdigest()[:16]
        patterns: dict[str, list[Pattern]] = {}
        for i, e in enumerate(self.entries):
            forms = [e.folded] + ([f for f in _pinyin_forms(e.keyword) if f != e.folded] if e.pinyin else [])
            for f in forms:
                cs, ce = pattern_edges(f)
                patterns.setdefault(f, []).append(Pattern(i, len(f), False, cs, ce))
        for i, a in enumerate(self.allow):
            patterns.setdefault(a.folded, []).append(Pattern(i, len(a.folded), True))
        self._matcher = Matcher(patterns, [(e.keyword, e.category) for e in self.entries])

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def from_text(cls, text: str, source: str = "<text>") -> KeywordLibrary:
        issues: list[KeywordIssue] = []
        entries: list[KeywordEntry] = []
        allow: list[AllowEntry] = []
        seen_kw: dict[str, int] = {}
        seen_allow: dict[str, int] = {}
        if text.startswith("\ufeff"):
            text = text[1:]
        for n, raw in enumerate(text.splitlines(), start=1):
            # Strip spaces only: a leading tab means an empty keyword column, not indentation.
            line = raw.strip(" \r\n\u3000")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.startswith("!"):
                phrase = line[1:].strip(" ")
                if "\t" in phrase:
                    issues.append(KeywordIssue(n, "an allow-list line takes only a phrase (no tab columns)"))
                    continue
                f = fold(phrase)
                if not f:
                    issues.append(KeywordIssue(n, f"allow phrase {phrase!r} is empty after normalisation"))
                elif f in seen_allow:
                    issues.append(KeywordIssue(n, f"duplicate allow phrase {phrase!r} (same as line {seen_allow[f]})"))
                else:
                    seen_allow[f] = n
                    allow.append(AllowEntry(phrase, n, f))
                continue
            fields = [c.strip() for c in line.split("\t")]
            if len(fields) > 3:
                issues.append(KeywordIssue(n, f"too many tab-separated columns ({len(fields)}; at most keyword, category, flags)"))
                continue
            keyword = fields[0]
            category = fields[1] if len(fields) > 1 else DEFAULT_CATEGORY
            flags = {f.strip() for f in fields[2].split(",") if f.strip()} if len(fields) > 2 else set()
            if not keyword:
                issues.append(KeywordIssue(n, "empty keyword"))
                continue
            bad = False
            if not _CATEGORY_RE.match(category):
                issues.append(KeywordIssue(n, f"bad category {category!r} (1-32 letters, digits, '_' or '-')"))
                bad = True
            if flags - FLAGS:
                issues.append(KeywordIssue(n, f"unknown flag(s) {sorted(flags - FLAGS)} (known: {sorted(FLAGS)})"))
                bad = True
            f = fold(keyword)
            if not f:
                issues.append(KeywordIssue(n, f"keyword {keyword!r} is empty after normalisation (only symbols, spaces or emoji)"))
                continue
            if len(f) > MAX_KEYWORD_LEN:
                issues.append(KeywordIssue(n, f"keyword longer than {MAX_KEYWORD_LEN} characters after normalisation"))
                continue
            if len(f) < 2 and f.isascii():
                issues.append(KeywordIssue(n, f"keyword {keyword!r} is a single Latin letter or digit after normalisation; it would fire everywhere"))
                continue
            if "pinyin" in flags and (not _HAN_RE.search(keyword) or len(f) < 2):
                issues.append(KeywordIssue(n, "the pinyin flag needs a keyword of at least two characters including Chinese ones"))
                bad = True
            if f in seen_kw:
                issues.append(KeywordIssue(n, f"duplicate keyword {keyword!r} (same after normalisation as line {seen_kw[f]})"))
                continue
            seen_kw[f] = n
            if not bad:
                entries.append(KeywordEntry(keyword, category, n, f, "pinyin" in flags))
        for a in allow:
            if a.folded in seen_kw:
                issues.append(KeywordIssue(a.line, f"allow phrase {a.phrase!r} equals the keyword on line {seen_kw[a.folded]}; it would disable it"))
        if issues:
            raise KeywordFileError(source, issues)
        return cls(entries, allow, text=text, source=source)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<bytes>") -> KeywordLibrary:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise KeywordFileError(source, [KeywordIssue(line, f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})")]) from None
        return cls.from_text(text, source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeywordLibrary:
        p = Path(path)
        return cls.from_bytes(p.read_bytes(), str(p))

    @classmethod
    def empty(cls) -> KeywordLibrary:
        return cls.from_text("", "<empty>")

    def __reduce__(self):
        # Rebuild from source on unpickle (Ray ships libraries to actors): the automaton's
        # own pickle format is tied to the pyahocorasick build.
        return (KeywordLibrary.from_text, (self._text, self.source))

    # -- use -------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The source text the library was built from (for GET /v1/keywords)."""
        return self._text

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"KeywordLibrary({len(self.entries)} keywords, {len(self.allow)} allowed, version={self.version})"

    def match(self, text: str) -> list[KeywordHit]:
        """Hits in one text, spans [start, end) in the original (unfolded) text."""
        return self._matcher.match(text)

    def match_lines(self, lines: Sequence[str], joinable: Sequence[bool] | None = None) -> list[LineHit]:
        """Hits in the OCR lines of one frame, including phrases split across neighbouring
        lines (see :meth:`Matcher.match_lines`)."""
        return self._matcher.match_lines(lines, joinable)


class KeywordLibraryHolder:
    """The current library, swappable at run time without restart. Readers take
    ``holder.current`` once per unit of work (a frame) so a unit is matched against one
    library; a swap is a single reference assignment, so readers never see a half state."""

    def __init__(self, library: KeywordLibrary | None = None):
        self._lock = threading.Lock()
        self._library = library or KeywordLibrary.empty()
        self._file_sig: tuple[str, int, int] | None = None

    def __reduce__(self):
        # The lock cannot be pickled; a copy (e.g. shipped to a Ray actor) starts with the
        # same library and its own lock.
        return (KeywordLibraryHolder, (self._library,))

    @property
    def current(self) -> KeywordLibrary:
        return self._library

    @property
    def version(self) -> str:
        return self._library.version

    def swap(self, library: KeywordLibrary) -> KeywordLibrary:
        """Install ``library``; returns the previous one."""
        if not isinstance(library, KeywordLibrary):
            raise TypeError(f"expected KeywordLibrary, got {type(library).__name__}")
        with self._lock:
            old, self._library = self._library, library
        return old

    def load(self, path: str | os.PathLike[str]) -> KeywordLibrary:
        """Validate ``path`` and swap it in; on error the current library stays and
        :class:`KeywordFileError` is raised."""
        p = Path(path)
        st = p.stat()
        lib = KeywordLibrary.load(p)
        self.swap(lib)
        self._file_sig = (str(p), st.st_mtime_ns, st.st_size)
        return lib

    def reload_if_changed(self, path: str | os.PathLike[str]) -> bool:
        """Reload when the file's mtime or size changed since the last load (cheap to poll)."""
        p = Path(path)
        st = p.stat()
        if self._file_sig == (str(p), st.st_mtime_ns, st.st_size):
            return False
        self.load(p)
        return True
