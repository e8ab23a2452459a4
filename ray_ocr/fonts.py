"""The one CJK font the project renders with (synthetic data, evidence images).

Noto Sans CJK comes as a variable-font collection from the ``manimgx-fonts-cjk`` wheel, so no
OS font package or run-time download is needed. Face index 2 is Simplified Chinese; the default
instance of the variable font is *Thin*, hence the explicit weight.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

SC_INDEX = 2  # JP, KR, SC, TC, HK in the collection; SC has the GB glyph forms we want
WEIGHTS = ("Thin", "Light", "DemiLight", "Regular", "Medium", "Bold", "Black")


class FontMissingError(RuntimeError):
    """The CJK font file is not installed."""


def cjk_font_path() -> Path:
    try:
        import manimgx_fonts_cjk
    except ImportError as exc:  # the package is a core dependency; say how to fix it
        raise FontMissingError(
            "CJK font package missing: pip install manimgx-fonts-cjk==2026.9.26.post1"
        ) from exc
    path = Path(manimgx_fonts_cjk.__file__).parent / "NotoSansCJK-VF.otf.ttc"
    if not path.is_file():
        raise FontMissingError(f"CJK font file not found: {path} (reinstall manimgx-fonts-cjk)")
    return path


@lru_cache(maxsize=256)
def cjk_font(size: int, weight: str = "Regular") -> ImageFont.FreeTypeFont:
    """Noto Sans CJK SC at ``size`` px and a named weight (cached; do not mutate the result)."""
    if size < 1:
        raise ValueError(f"font size must be >= 1, got {size}")
    if weight not in WEIGHTS:
        raise ValueError(f"unknown weight {weight!r}; choose one of {WEIGHTS}")
    font = ImageFont.truetype(str(cjk_font_path()), size=int(size), index=SC_INDEX)
    font.set_variation_by_name(weight)
    return font
