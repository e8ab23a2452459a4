"""Text folding that defeats the usual evasions in burned-in text.

Both the keywords and the OCR text go through the same per-character fold, so the fold only
has to be *consistent*, not linguistically right: a character maps to zero or more
characters, independently of its neighbours. That is what lets the hot path be a single
``str.translate`` (C speed) and lets a hit in folded text be mapped back to a span of the
original text (each folded character remembers the original index it came from).

Per character, in order:

1. NFKC: full-width/half-width forms, circled and parenthesised digits, ligatures, Kangxi
   radicals, mathematical alphanumerics, superscripts.
2. casefold.
3. Latin/Greek/Cyrillic diacritics stripped (``wéchat`` → ``wechat``); not for other scripts,
   where marks distinguish words (Japanese dakuten).
4. Cyrillic/Greek homoglyphs of Latin letters → Latin (``аре`` in Cyrillic → ``ape``).
5. Any Unicode decimal digit → ASCII digit.
6. Look-alike classes: ``o``/``〇`` → ``0`` and ``i``/``l`` → ``1``. Deliberately small:
   every extra class (s/5, z/2, b/8…) multiplies near-miss collisions.
7. Traditional → simplified, per character, from OpenCC's t2s/tw2s/hk2s tables. Per
   character (not OpenCC's phrase-level conversion) because the phrase level converts a
   character differently depending on its context (乾隆 keeps 乾, 乾淨 → 干净), which would
   let a keyword and the same word in text fold differently.
8. Only letters and numbers (Unicode categories L*, N*) survive: punctuation, symbols, emoji,
   spaces, zero-width and control characters, variation selectors and combining marks are
   dropped, so ``微@信``, ``微 信``, ``微😀信`` and ``微\u200b信`` all fold to ``微信``.

The table is a dict filled lazily (``__missing__``) so start-up costs nothing and only the
characters actually seen are computed; it is capped so hostile input cannot grow it
without bound.
"""

from __future__ import annotations

import threading
import unicodedata

# Cyrillic and Greek letters (after casefold) that render like a Latin letter in common
# fonts. Only unambiguous look-alikes; e.g. Cyrillic и (looks like a mirrored N) is left.
_HOMOGLYPHS = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "ӏ": "l", "ԛ": "q", "ԝ": "w", "һ": "h", "ү": "y",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "γ": "y", "ω": "w",
    # Latin oddities
    "ı": "i", "ɡ": "g", "ɑ": "a", "ʟ": "l",
}
_LOOKALIKE = {"o": "0", "〇": "0", "i": "1", "l": "1"}

# OpenCC configs whose character tables are merged (first one that changes a char wins).
_T2S_CONFIGS = ("t2s", "tw2s", "hk2s")
_CJK_RANGES = (
    (0x3400, 0x4DC0),  # Extension A
    (0x4E00, 0xA000),  # Unified Ideographs
    (0x20000, 0x2A6E0),  # Extension B (some traditional variants live here)
)
_CACHE_CAP = 400_000

_t2s_lock = threading.Lock()
_t2s_table: dict[str, str] | None = None


def _build_t2s() -> dict[str, str]:
    """Character-level traditional→simplified map derived from OpenCC's own dictionaries."""
    import opencc

    chars = [chr(cp) for lo, hi in _CJK_RANGES for cp in range(lo, hi)]
    # One call per config on newline-separated characters: OpenCC never matches a phrase
    # across the newline, so each output line is that character's own conversion.
    blob = "\n".join(chars)
    table: dict[str, str] = {}
    for config in _T2S_CONFIGS:
        out = opencc.OpenCC(config).convert(blob).split("\n")
        if len(out) != len(chars):  # pragma: no cover - would mean OpenCC merged lines
            raise RuntimeError(f"OpenCC {config} changed the line count; cannot derive a char table")
        for src, dst in zip(chars, out):
            if dst != src and len(dst) == 1 and src not in table:
                table[src] = dst
    return table


def t2s_table() -> dict[str, str]:
    global _t2s_table
    if _t2s_table is None:
        with _t2s_lock:
            if _t2s_table is None:
                _t2s_table = _build_t2s()
    return _t2s_table


def _strip_diacritics(ch: str) -> str:
    if ch.isascii() or ord(ch) >= 0x530:
        return ch
    base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    return base or ch


def fold_char(c: str) -> str:
    """The fold of one character (see module doc); '' when it is dropped."""
    t2s = t2s_table()
    out = []
    for ch in unicodedata.normalize("NFKC", c):
        for x in ch.casefold():
            x = _strip_diacritics(x)
            x = _HOMOGLYPHS.get(x, x)
            dec = unicodedata.decimal(x, None)
            if dec is not None:
                x = str(dec)
            x = _LOOKALIKE.get(x, x)
            x = t2s.get(x, x)
            if unicodedata.category(x)[0] in "LN":
                out.append(x)
    return "".join(out)


class _FoldTable(dict):
    """ord → folded str, computed on first sight; the mapping ``str.translate`` consumes."""

    def __missing__(self, cp: int) -> str:
        v = fold_char(chr(cp))
        if len(self) < _CACHE_CAP:
            self[cp] = v
        return v


FOLD_TABLE = _FoldTable()


class _KeyTable(dict):
    """ord → the fold as UTF-8 bytes spelled in latin-1 (one str char per byte): the
    alphabet the automaton runs on. pyahocorasick finds a node's child by a linear scan, so
    with 10,000 Chinese keywords the root has thousands of children and matching code points
    runs at ~2.8M chars/s; over UTF-8 bytes no node has more than ~64 children and the same
    scan runs ~3x faster. UTF-8 is self-synchronising (a lead byte never equals a
    continuation byte), so a match always starts and ends on a character boundary."""

    def __missing__(self, cp: int) -> str:
        v = FOLD_TABLE[cp].encode("utf-8").decode("latin-1")
        if len(self) < _CACHE_CAP:
            self[cp] = v
        return v


KEY_TABLE = _KeyTable()


def to_key(folded: str) -> str:
    """A folded string in the automaton's alphabet (UTF-8 bytes as latin-1 chars)."""
    return folded.encode("utf-8").decode("latin-1")


def fold_key(text: str) -> str:
    """``to_key(fold(text))`` in one translate: the matcher's hot path."""
    return text.translate(KEY_TABLE)


def _translate_with_map(text: str, table) -> tuple[str, list[int]]:
    """``text.translate(table)`` plus, for each output character, the index of the original
    character it came from (a Python loop: only run on texts that hit)."""
    parts: list[str] = []
    index: list[int] = []
    for i, c in enumerate(text):
        f = table[ord(c)]
        if f:
            parts.append(f)
            index.extend([i] * len(f))
    return "".join(parts), index


def fold_key_with_map(text: str) -> tuple[str, list[int]]:
    """:func:`fold_key` plus the original index of every key unit (slow; texts that hit only)."""
    return _translate_with_map(text, KEY_TABLE)


def fold(text: str) -> str:
    """Folded text for matching (the hot path: one C-level translate)."""
    return text.translate(FOLD_TABLE)


def fold_with_map(text: str) -> tuple[str, list[int]]:
    """Folded text plus, for each folded character, the index of the original character it
    came from. Same result as :func:`fold`; slower, so only run on texts that hit."""
    return _translate_with_map(text, FOLD_TABLE)


_EDGE = {}


def edge_class(c: str) -> str:
    """'a' for a (look-alike) Latin letter, 'd' for a digit, '' otherwise: what word
    boundaries of Latin keywords are judged on (look-alike folding deliberately not applied,
    so 'l' next to a keyword counts as a letter)."""
    v = _EDGE.get(c)
    if v is None:
        v = ""
        s = unicodedata.normalize("NFKC", c).casefold()
        if s:
            x = _HOMOGLYPHS.get(_strip_diacritics(s[0]), _strip_diacritics(s[0]))
            if unicodedata.decimal(x, None) is not None:
                v = "d"
            elif x.isascii() and x.isalpha():
                v = "a"
        if len(_EDGE) < 65536:
            _EDGE[c] = v
    return v


def is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()
