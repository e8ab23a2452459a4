"""Synthetic frames with known text: the ground truth for OCR accuracy and keyframe tests.

Text is rasterised once into an *overlay* (premultiplied colour + alpha, with the exact quad
of its ink) and then composited, so a video that shows the same subtitle for 90 frames draws
it once. Polygons are computed from the ink mask itself and carried through the same affine
transform as the pixels, so they are exact to the antialiasing pixel.

Coordinates: polygons are in pixel-*edge* coordinates (pixel (x, y) covers [x, x+1) x
[y, y+1)), clockwise from the text's top-left: TL, TR, BR, BL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ray_ocr.fonts import cjk_font
from ray_ocr.training import corpus

KINDS = ("subtitle", "watermark", "scattered", "marquee", "banned")


@dataclass
class TextItem:
    text: str
    polygon: np.ndarray  # (4,2) float32, clockwise from top-left, exact pixel quad of the rendered text line
    kind: str  # "subtitle" | "watermark" | "scattered" | "marquee" | "banned"


@dataclass
class SynthImage:
    image: np.ndarray  # HxWx3 uint8 BGR
    items: list[TextItem] = field(default_factory=list)


@dataclass
class Overlay:
    """A rasterised text line ready to composite: dst = dst * (1 - alpha) + premult."""

    premult: np.ndarray  # hxwx3 float32, colour already multiplied by alpha
    alpha: np.ndarray  # hxwx1 float32 in [0, 1]
    polygon: np.ndarray  # (4,2) float32 ink quad relative to the patch's top-left

    @property
    def size(self) -> tuple[int, int]:
        return self.alpha.shape[1], self.alpha.shape[0]

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """Axis-aligned bounds of the ink quad, relative to the patch."""
        p = self.polygon
        return float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())


def make_overlay(
    text: str,
    size: int,
    color,
    stroke_width: int = 0,
    stroke_color=None,
    angle_deg: float = 0.0,
    weight: str = "Regular",
    opacity: float = 1.0,
) -> Overlay:
    """Rasterise one text line (BGR colours) into an :class:`Overlay`."""
    if not text:
        raise ValueError("empty text")
    font = cjk_font(int(size), weight)
    sw = int(stroke_width)
    left, top, right, bottom = font.getbbox(text, stroke_width=sw)
    pad = 4 + sw
    w, h = int(right - left) + 2 * pad, int(bottom - top) + 2 * pad
    origin = (pad - left, pad - top)
    # Two coverage masks so a coloured fill can sit on a differently coloured stroke.
    fill_img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(fill_img).text(origin, text, font=font, fill=255)
    a_fill = np.asarray(fill_img, dtype=np.float32) / 255.0
    if sw > 0:
        st_img = Image.new("L", (w, h), 0)
        ImageDraw.Draw(st_img).text(origin, text, font=font, fill=255, stroke_width=sw, stroke_fill=255)
        a_st = np.asarray(st_img, dtype=np.float32) / 255.0
    else:
        a_st = np.zeros_like(a_fill)
    ink = (a_fill > 0) | (a_st > 0)
    ys, xs = np.nonzero(ink)
    if len(xs) == 0:
        raise ValueError(f"text renders no ink: {text!r}")
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    cf = np.asarray(color, dtype=np.float32).reshape(1, 1, 3)
    cs = np.asarray(stroke_color if stroke_color is not None else (0, 0, 0), dtype=np.float32).reshape(1, 1, 3)
    # Fill over stroke, folded into one premultiplied layer (see class docstring).
    alpha = 1.0 - (1.0 - a_st) * (1.0 - a_fill)
    premult = cs * (a_st * (1.0 - a_fill))[..., None] + cf * a_fill[..., None]
    stack = np.dstack([premult, alpha]) * np.float32(opacity)
    quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)

    if abs(angle_deg) > 1e-6:
        # Rotate about the ink centre; cv2 maps pixel centres, hence the +-0.5 between the
        # edge-coordinate quad and the transform.
        cx, cy = (x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5
        m = cv2.getRotationMatrix2D((cx, cy), float(angle_deg), 1.0)
        q = (quad - 0.5) @ m[:, :2].T + m[:, 2] + 0.5
        bx0, by0 = np.floor(q.min(axis=0)) - 2
        bx1, by1 = np.ceil(q.max(axis=0)) + 2
        m[:, 2] -= (bx0, by0)
        out_w, out_h = int(bx1 - bx0), int(by1 - by0)
        stack = cv2.warpAffine(stack, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderValue=0)
        quad = q - (bx0, by0)
    else:
        # Pad first so a glyph touching the mask edge still gets a 2 px transparent border.
        stack = np.pad(stack, ((2, 2), (2, 2), (0, 0)))[y0 : y1 + 4, x0 : x1 + 4]
        quad = quad - (x0 - 2, y0 - 2)
    stack = np.ascontiguousarray(stack, dtype=np.float32)
    return Overlay(premult=stack[..., :3].copy(), alpha=stack[..., 3:].copy(), polygon=quad.astype(np.float32))


def composite(image: np.ndarray, ov: Overlay, xy: tuple[int, int]) -> None:
    """Blend ``ov`` into ``image`` in place with the patch's top-left at integer ``xy``; clips to the frame."""
    H, W = image.shape[:2]
    x, y = int(xy[0]), int(xy[1])
    w, h = ov.size
    sx0, sy0 = max(0, -x), max(0, -y)
    dx0, dy0 = max(0, x), max(0, y)
    dx1, dy1 = min(W, x + w), min(H, y + h)
    if dx1 <= dx0 or dy1 <= dy0:
        return
    sx1, sy1 = sx0 + (dx1 - dx0), sy0 + (dy1 - dy0)
    dst = image[dy0:dy1, dx0:dx1]
    a = ov.alpha[sy0:sy1, sx0:sx1]
    out = dst.astype(np.float32) * (1.0 - a) + ov.premult[sy0:sy1, sx0:sx1]
    np.clip(out + 0.5, 0, 255, out=out)
    dst[...] = out.astype(np.uint8)


def overlay_origin_for(ov: Overlay, xy) -> tuple[int, int]:
    """Patch origin that puts the ink quad's bounding-box top-left at (about) ``xy``."""
    bx0, by0, _, _ = ov.bbox
    return int(round(xy[0] - bx0)), int(round(xy[1] - by0))


def render_text(
    image: np.ndarray,
    text: str,
    xy,
    size: int,
    color,
    stroke_width: int = 0,
    stroke_color=None,
    angle_deg: float = 0.0,
    weight: str = "Regular",
    opacity: float = 1.0,
) -> np.ndarray:
    """Draw ``text`` into BGR ``image`` in place; ``xy`` is the top-left of the ink's bounding
    box. Returns the (4,2) float32 ink polygon in image coordinates."""
    ov = make_overlay(text, size, color, stroke_width, stroke_color, angle_deg, weight, opacity)
    origin = overlay_origin_for(ov, xy)
    composite(image, ov, origin)
    return ov.polygon + np.asarray(origin, dtype=np.float32)


# ---------------------------------------------------------------------------- backgrounds


def _rand_color(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    c = rng.integers(lo, hi, 3)
    return int(c[0]), int(c[1]), int(c[2])


def _gradient(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    c0 = np.array(_rand_color(rng), np.float32)
    c1 = np.array(_rand_color(rng), np.float32)
    theta = rng.uniform(0, 2 * math.pi)
    xs = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    ys = np.linspace(-1, 1, height, dtype=np.float32)[:, None] * (height / max(width, 1))
    t = (xs * math.cos(theta) + ys * math.sin(theta) + 1.5) / 3.0
    t = np.clip(t, 0, 1)[..., None]
    return c0 * (1 - t) + c1 * t


def _low_freq_noise(rng: np.random.Generator, width: int, height: int, amp: float) -> np.ndarray:
    small = rng.normal(0, amp, (max(2, height // 48), max(2, width // 48), 3)).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def _draw_shapes(rng: np.random.Generator, img: np.ndarray, n: int) -> None:
    H, W = img.shape[:2]
    for _ in range(n):
        kind = rng.integers(0, 5)
        col = _rand_color(rng)
        layer = img.copy()
        if kind == 0:
            x, y = int(rng.integers(0, W)), int(rng.integers(0, H))
            cv2.rectangle(layer, (x, y), (x + int(rng.integers(20, W // 3)), y + int(rng.integers(20, H // 3))), col, -1)
        elif kind == 1:
            cv2.circle(layer, (int(rng.integers(0, W)), int(rng.integers(0, H))), int(rng.integers(10, H // 4)), col, -1, cv2.LINE_AA)
        elif kind == 2:
            axes = (int(rng.integers(10, W // 4)), int(rng.integers(10, H // 4)))
            cv2.ellipse(layer, (int(rng.integers(0, W)), int(rng.integers(0, H))), axes, float(rng.uniform(0, 180)), 0, 360, col, -1, cv2.LINE_AA)
        elif kind == 3:
            p0 = (int(rng.integers(0, W)), int(rng.integers(0, H)))
            p1 = (int(rng.integers(0, W)), int(rng.integers(0, H)))
            cv2.line(layer, p0, p1, col, int(rng.integers(1, 8)), cv2.LINE_AA)
        else:
            pts = np.stack([rng.integers(0, W, 5), rng.integers(0, H, 5)], axis=1).astype(np.int32)
            cv2.fillPoly(layer, [pts], col, cv2.LINE_AA)
        a = float(rng.uniform(0.3, 1.0))
        cv2.addWeighted(layer, a, img, 1 - a, 0, dst=img)


def _scene_landscape(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    img = _gradient(rng, width, height)
    horizon = int(height * rng.uniform(0.35, 0.7))
    ground = _gradient(rng, width, height - horizon)
    img[horizon:] = ground
    # Hills: a smooth random profile across the width.
    xs = np.arange(width)
    prof = np.zeros(width, np.float32)
    for _ in range(3):
        prof += rng.uniform(10, 60) * np.sin(xs / rng.uniform(60, 300) + rng.uniform(0, 6.3))
    col = np.array(_rand_color(rng, 20, 180), np.float32)
    out = img.astype(np.uint8)
    pts = np.concatenate([np.stack([xs, horizon - 20 + prof], 1), [[width, height], [0, height]]]).astype(np.int32)
    cv2.fillPoly(out, [pts], tuple(int(c) for c in col), cv2.LINE_AA)
    return out


def _scene_city(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    img = _gradient(rng, width, height).astype(np.uint8)
    x = 0
    while x < width:
        bw = int(rng.integers(40, 160))
        bh = int(rng.integers(height // 5, int(height * 0.85)))
        col = _rand_color(rng, 10, 120)
        cv2.rectangle(img, (x, height - bh), (x + bw, height), col, -1)
        wc = _rand_color(rng, 150, 256)
        for wy in range(height - bh + 10, height - 10, 22):
            for wx in range(x + 6, x + bw - 10, 16):
                if rng.random() < 0.5:
                    cv2.rectangle(img, (wx, wy), (wx + 7, wy + 10), wc, -1)
        x += bw + int(rng.integers(0, 20))
    return img


def _scene_room(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    img = _gradient(rng, width, height).astype(np.uint8)
    floor = int(height * rng.uniform(0.55, 0.8))
    cv2.rectangle(img, (0, floor), (width, height), _rand_color(rng, 40, 200), -1)
    for _ in range(int(rng.integers(2, 6))):  # windows, frames, furniture
        x, y = int(rng.integers(0, width - 60)), int(rng.integers(0, floor))
        w, h = int(rng.integers(60, width // 3)), int(rng.integers(60, height // 2))
        cv2.rectangle(img, (x, y), (x + w, y + h), _rand_color(rng), -1)
        cv2.rectangle(img, (x, y), (x + w, y + h), _rand_color(rng, 0, 80), int(rng.integers(2, 10)))
    return img


def _scene_bokeh(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    img = (_gradient(rng, width, height) * 0.5).astype(np.uint8)
    for _ in range(int(rng.integers(20, 60))):
        layer = img.copy()
        cv2.circle(layer, (int(rng.integers(0, width)), int(rng.integers(0, height))), int(rng.integers(10, 70)),
                   _rand_color(rng, 100, 256), -1, cv2.LINE_AA)
        cv2.addWeighted(layer, float(rng.uniform(0.2, 0.6)), img, 1.0, 0, dst=img)
    return cv2.GaussianBlur(img, (0, 0), 6)


def random_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A cluttered BGR uint8 background: gradients, noise, shapes or a rough 'scene'."""
    kind = int(rng.integers(0, 5))
    if kind == 0:
        img = _gradient(rng, width, height).astype(np.uint8)
        _draw_shapes(rng, img, int(rng.integers(8, 30)))
    elif kind == 1:
        img = _scene_landscape(rng, width, height)
        _draw_shapes(rng, img, int(rng.integers(0, 6)))
    elif kind == 2:
        img = _scene_city(rng, width, height)
    elif kind == 3:
        img = _scene_room(rng, width, height)
    else:
        img = _scene_bokeh(rng, width, height)
    f = img.astype(np.float32) + _low_freq_noise(rng, width, height, float(rng.uniform(0, 25)))
    f += rng.normal(0, float(rng.uniform(1, 8)), f.shape).astype(np.float32)  # sensor noise
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.5, 2.0)))
    return out


# ---------------------------------------------------------------------------- layout


class Occupancy:
    """Rejects placements that overlap earlier items (with a margin) or leave the frame."""

    def __init__(self, width: int, height: int, margin: int = 6, border: int = 4) -> None:
        self.mask = np.zeros((height, width), np.uint8)
        self.margin, self.border = margin, border
        self.width, self.height = width, height

    def fits(self, poly: np.ndarray) -> bool:
        b = self.border
        if poly[:, 0].min() < b or poly[:, 1].min() < b or poly[:, 0].max() > self.width - b or poly[:, 1].max() > self.height - b:
            return False
        grown = self._grow(poly)
        # Probe only the grown quad's bounding box, not the whole frame (many attempts per item).
        x0, y0 = np.maximum(grown.min(axis=0), 0)
        x1, y1 = np.minimum(grown.max(axis=0) + 1, (self.width, self.height))
        probe = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(probe, [grown - (x0, y0)], 1)
        return not np.any(probe & self.mask[y0:y1, x0:x1])

    def add(self, poly: np.ndarray) -> None:
        cv2.fillPoly(self.mask, [self._grow(poly)], 1)

    def _grow(self, poly: np.ndarray) -> np.ndarray:
        c = poly.mean(axis=0)
        d = poly - c
        n = np.linalg.norm(d, axis=1, keepdims=True) + 1e-6
        return np.round(poly + d / n * self.margin * 1.42).astype(np.int32)


def _contrast_color(rng: np.random.Generator, bg_mean: float) -> tuple[tuple[int, int, int], tuple[int, int, int] | None, int]:
    """Text colour readable on a region of mean luminance ``bg_mean``, plus an optional stroke."""
    if bg_mean < 110:
        col = _rand_color(rng, 190, 256)
    elif bg_mean > 150:
        col = _rand_color(rng, 0, 70)
    else:  # mid-grey background: use a stroke so the line stays legible
        col = _rand_color(rng, 200, 256)
        return col, (0, 0, 0), 2
    if rng.random() < 0.25:
        return col, _rand_color(rng, 0, 60) if bg_mean < 110 else _rand_color(rng, 200, 256), int(rng.integers(1, 3))
    return col, None, 0


def _luma(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def subtitle_overlay(text: str, size: int, weight: str = "Medium") -> Overlay:
    """The house style of burned-in subtitles: white with a dark outline."""
    return make_overlay(text, size, (255, 255, 255), stroke_width=max(2, size // 14), stroke_color=(20, 20, 20), weight=weight)


def subtitle_origin(ov: Overlay, width: int, height: int, bottom_margin: int) -> tuple[int, int]:
    bx0, by0, bx1, by1 = ov.bbox
    x = (width - (bx1 - bx0)) / 2
    y = height - bottom_margin - (by1 - by0)
    return overlay_origin_for(ov, (x, y))


def watermark_overlay(rng: np.random.Generator, text: str, size: int) -> Overlay:
    return make_overlay(text, size, (255, 255, 255), stroke_width=1, stroke_color=(40, 40, 40),
                        weight="Bold", opacity=float(rng.uniform(0.6, 0.9)))


def watermark_origin(rng: np.random.Generator, ov: Overlay, width: int, height: int, corner: int | None = None) -> tuple[int, int]:
    """Top-left/top-right/bottom-right/bottom-left corners (0..3); the subtitle owns bottom centre."""
    bx0, by0, bx1, by1 = ov.bbox
    tw, th = bx1 - bx0, by1 - by0
    c = int(rng.integers(0, 4)) if corner is None else corner
    mx, my = int(width * 0.02) + 6, int(height * 0.03) + 6
    x = mx if c in (0, 3) else width - mx - tw
    y = my if c in (0, 1) else height - my - th
    return overlay_origin_for(ov, (x, y))


def _fit_subtitle(rng: np.random.Generator, width: int, texts: list[str] | None) -> tuple[Overlay, str]:
    for _ in range(30):
        text = texts[int(rng.integers(len(texts)))] if texts else corpus.subtitle_text(rng)
        size = int(rng.integers(28, 49))
        ov = subtitle_overlay(text, size)
        if ov.bbox[2] - ov.bbox[0] <= width * 0.9:
            return ov, text
    size = 28
    while True:  # a caller-given text that is too long: shrink until it fits
        ov = subtitle_overlay(text, size)
        if ov.bbox[2] - ov.bbox[0] <= width * 0.9 or size <= 10:
            return ov, text
        size -= 2


def render_text_image(
    seed: int,
    width: int = 1280,
    height: int = 720,
    n_items: tuple[int, int] = (3, 8),
    texts: list[str] | None = None,
    max_angle_deg: float = 15.0,
) -> SynthImage:
    """A video-like frame: bottom subtitle, corner watermark and scattered lines, none overlapping.

    ``n_items`` bounds the total number of text lines (subtitle and watermark included); fewer
    may be placed if the frame is too crowded. ``texts`` replaces the built-in corpus.
    """
    rng = np.random.default_rng(seed)
    img = random_background(rng, width, height)
    occ = Occupancy(width, height)
    items: list[TextItem] = []
    n_total = int(rng.integers(n_items[0], n_items[1] + 1))
    if n_total <= 0:
        return SynthImage(img, items)

    def place(ov: Overlay, origin: tuple[int, int], text: str, kind: str) -> bool:
        poly = ov.polygon + np.asarray(origin, np.float32)
        if not occ.fits(poly):
            return False
        composite(img, ov, origin)
        occ.add(poly)
        items.append(TextItem(text, poly.astype(np.float32), kind))
        return True

    ov, text = _fit_subtitle(rng, width, texts)
    place(ov, subtitle_origin(ov, width, height, int(height * rng.uniform(0.04, 0.1))), text, "subtitle")

    if n_total >= 2:
        for _ in range(8):
            wtext = texts[int(rng.integers(len(texts)))] if texts else corpus.watermark_text(rng)
            wov = watermark_overlay(rng, wtext, int(rng.integers(16, 29)))
            if place(wov, watermark_origin(rng, wov, width, height), wtext, "watermark"):
                break

    luma = _luma(img)
    for _ in range(max(0, n_total - 2)):
        text = texts[int(rng.integers(len(texts)))] if texts else corpus.scattered_text(rng)
        for _attempt in range(40):
            size = int(rng.integers(16, 65))
            angle = float(rng.uniform(-max_angle_deg, max_angle_deg)) if rng.random() < 0.6 else 0.0
            x = rng.uniform(0, width * 0.8)
            y = rng.uniform(0, height * 0.85)
            # Colour chosen against the region it will land on, so every line is legible.
            approx_w = int(size * len(text) * 0.8)
            region = luma[int(y) : int(y) + size, int(x) : int(x) + max(approx_w, 1)]
            mean = float(region.mean()) if region.size else 128.0
            col, st_col, st_w = _contrast_color(rng, mean)
            weight = ("Regular", "Medium", "Bold", "Black")[int(rng.integers(0, 4))]
            ov = make_overlay(text, size, col, st_w, st_col, angle, weight)
            if place(ov, overlay_origin_for(ov, (x, y)), text, "scattered"):
                break
    return SynthImage(img, items)


_VIDEO_NAMES = {"VideoSpec", "GroundTruth", "GtItem", "GtScene", "make_video", "make_sample_set", "gt_path"}


def __getattr__(name: str):
    # The video generator lives in synth_video.py (it imports this module); re-export lazily so
    # `from ray_ocr.training.synth import make_video` works without an import cycle.
    if name in _VIDEO_NAMES:
        from ray_ocr.training import synth_video

        return getattr(synth_video, name)
    raise AttributeError(name)
