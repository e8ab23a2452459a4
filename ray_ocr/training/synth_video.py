"""Synthetic moderation videos with a time-coded ground truth.

A video is a sequence of scenes (static or panning backgrounds, joined by cuts, fades through
black or cross-fades) with timed subtitles, a corner watermark, optional on-screen captions per
scene, an optional scrolling marquee and optional banned phrases (as subtitles or banners).
Every distinct overlay is rasterised once (:func:`ray_ocr.training.synth.make_overlay`) and
composited per frame, so a 2-minute 720p video costs about the encoder's time.

Ground truth JSON (beside the video, same stem): each item has ``text``, ``kind``, ``start``
and ``end`` in seconds (frame ``i`` at ``t = i / fps`` shows it iff ``start <= t < end``) and
the ink ``polygon`` (edge coordinates, TL TR BR BL). A marquee moves: its polygon is the one at
``start`` and ``velocity`` is in px/s.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ray_ocr.training import corpus
from ray_ocr.training.synth import (
    Occupancy,
    Overlay,
    _contrast_color,
    composite,
    make_overlay,
    overlay_origin_for,
    random_background,
    subtitle_origin,
    subtitle_overlay,
    watermark_origin,
    watermark_overlay,
)

log = logging.getLogger(__name__)


@dataclass
class VideoSpec:
    duration_s: float = 20.0
    fps: float = 25.0
    width: int = 1280
    height: int = 720
    subtitle_s: tuple[float, float] = (1.5, 4.0)
    subtitle_gap_s: tuple[float, float] = (0.4, 2.5)
    scene_s: tuple[float, float] = (4.0, 12.0)
    pan_prob: float = 0.4
    fade_prob: float = 0.3
    fade_s: tuple[float, float] = (0.5, 1.2)
    pan_speed: tuple[float, float] = (30.0, 120.0)  # px/s
    captions_per_scene: tuple[int, int] = (0, 2)
    subtitles: bool = True
    watermark: bool = True
    marquee: bool = False
    marquee_speed: float = 100.0  # px/s; at 100 a character stays in a 720p frame ~12.8 s
    banned: list[str] = field(default_factory=list)
    noise_sigma: float = 2.0  # per-frame sensor noise, so static frames are not bit-identical
    codec: str | None = None  # fourcc; None = best available ('avc1', else 'mp4v')


@dataclass
class GtItem:
    text: str
    kind: str
    start: float
    end: float
    polygon: list[list[float]]
    velocity: list[float] | None = None
    keyword: str | None = None
    style: str | None = None  # for banned phrases: "subtitle" (in the subtitle slot) or "banner"

    def visible(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass
class GtScene:
    start: float
    end: float
    motion: str  # "static" | "pan"
    pan_px_s: list[float]  # crop-window velocity (x, y); the picture moves the opposite way
    transition_in: str  # "none" | "cut" | "fade" | "crossfade"
    transition_s: float


@dataclass
class GroundTruth:
    video: str
    width: int
    height: int
    fps: float
    duration_s: float
    frames: int
    seed: int
    codec: str
    scenes: list[GtScene]
    items: list[GtItem]

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> GroundTruth:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        d["scenes"] = [GtScene(**s) for s in d["scenes"]]
        d["items"] = [GtItem(**i) for i in d["items"]]
        return cls(**d)

    def subtitle_lines(self) -> list[GtItem]:
        """Items shown in the subtitle position (plain subtitles and banned phrases shown as one)."""
        return [i for i in self.items if i.kind == "subtitle" or (i.kind == "banned" and i.style == "subtitle")]


def coverage(gt: GroundTruth, kept_ts: list[float], items: list[GtItem] | None = None) -> tuple[int, int, list[GtItem]]:
    """(covered, total, missed): an item is covered when some kept frame time falls in [start, end)."""
    items = gt.subtitle_lines() if items is None else items
    ts = np.sort(np.asarray(kept_ts, np.float64))
    missed = []
    for it in items:
        k = np.searchsorted(ts, it.start - 1e-9)
        if not (k < len(ts) and ts[k] < it.end - 1e-9):
            missed.append(it)
    return len(items) - len(missed), len(items), missed


def min_cover(items: list[GtItem], fps: float) -> int:
    """Fewest frames that show every item at least once (greedy interval stabbing: optimal)."""
    n, last = 0, -1.0
    for it in sorted(items, key=lambda i: i.end):
        if last >= it.start and last < it.end:
            continue
        last = (np.ceil(it.end * fps) - 1) / fps  # the last frame inside [start, end)
        n += 1
    return n


def gt_path(video_path: str | os.PathLike[str]) -> Path:
    return Path(video_path).with_suffix(".json")


# ---------------------------------------------------------------------------- writer


@lru_cache(maxsize=4)
def _fourcc_works(fourcc: str, ext: str) -> bool:
    # Probe once per process: a build without an H.264 encoder answers 'avc1' with an error.
    with tempfile.TemporaryDirectory() as d:
        w = cv2.VideoWriter(os.path.join(d, "probe" + ext), cv2.VideoWriter_fourcc(*fourcc), 10, (64, 64))
        ok = w.isOpened()
        if ok:
            w.write(np.zeros((64, 64, 3), np.uint8))
        w.release()
        return ok


def open_writer(path: Path, fps: float, size: tuple[int, int], codec: str | None = None) -> tuple[cv2.VideoWriter, str]:
    candidates = [codec] if codec else ["avc1", "mp4v"]
    for fcc in candidates:
        if _fourcc_works(fcc, path.suffix or ".mp4"):
            w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fcc), fps, size)
            if w.isOpened():
                return w, fcc
    raise RuntimeError(f"no working video encoder among {candidates} for {path.suffix} in this OpenCV build")


# ---------------------------------------------------------------------------- timeline


@dataclass
class _Scene:
    start: float
    end: float
    bg: np.ndarray
    pan: tuple[float, float]  # px/s in x, y of the crop window
    transition: str
    trans_s: float
    captions: list[tuple[Overlay, tuple[int, int]]] = field(default_factory=list)

    def frame(self, t: float, w: int, h: int) -> np.ndarray:
        dt = max(0.0, t - self.start)
        x = int(round(self.pan[0] * dt)) if self.pan[0] >= 0 else int(round(self.bg.shape[1] - w + self.pan[0] * dt))
        y = int(round(self.pan[1] * dt))
        x = min(max(x, 0), self.bg.shape[1] - w)
        y = min(max(y, 0), self.bg.shape[0] - h)
        out = self.bg[y : y + h, x : x + w].copy()
        for ov, org in self.captions:
            composite(out, ov, org)
        return out


def _plan_scenes(rng: np.random.Generator, spec: VideoSpec) -> list[tuple[float, float]]:
    cuts, t = [], 0.0
    while t < spec.duration_s:
        length = float(rng.uniform(*spec.scene_s))
        end = min(spec.duration_s, t + length)
        if spec.duration_s - end < spec.scene_s[0] / 2:  # no sliver of a scene at the end
            end = spec.duration_s
        cuts.append((t, end))
        t = end
    return cuts


def _plan_subtitles(rng: np.random.Generator, spec: VideoSpec) -> list[tuple[float, float]]:
    out, t = [], float(rng.uniform(0.2, 1.0))
    while True:
        d = float(rng.uniform(*spec.subtitle_s))
        if t + d > spec.duration_s - 0.2:
            break
        out.append((t, t + d))
        t += d + float(rng.uniform(*spec.subtitle_gap_s))
    return out


def _banned_sentence(rng: np.random.Generator, phrase: str) -> str:
    pre = ("想了解更多请", "需要的朋友", "详情", "有意者", "点击主页")[int(rng.integers(5))]
    post = ("联系我", "私聊", "了解一下", "", "咨询")[int(rng.integers(5))]
    return f"{pre}{phrase}{post}"


def _quad(ov: Overlay, org: tuple[int, int]) -> list[list[float]]:
    return (ov.polygon + np.asarray(org, np.float32)).round(2).tolist()


def make_video(path: str | os.PathLike[str], spec: VideoSpec | None = None, seed: int = 0) -> GroundTruth:
    """Render ``spec`` to ``path`` (mp4) and its ground truth to ``path.with_suffix('.json')``."""
    spec = spec or VideoSpec()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    W, H, fps = spec.width, spec.height, float(spec.fps)
    n_frames = int(round(spec.duration_s * fps))
    items: list[GtItem] = []

    # Fixed overlays first, so scene captions can avoid them.
    reserved = Occupancy(W, H, margin=10)
    sub_margin = int(H * rng.uniform(0.05, 0.09))
    sub_band_top = H - sub_margin - 60
    reserved.add(np.array([[W * 0.05, sub_band_top], [W * 0.95, sub_band_top], [W * 0.95, H], [W * 0.05, H]], np.float32))

    wm: tuple[Overlay, tuple[int, int]] | None = None
    if spec.watermark:
        wtext = corpus.watermark_text(rng)
        wov = watermark_overlay(rng, wtext, int(rng.integers(18, 30)))
        corner = int(rng.integers(0, 2))  # top corners; bottom ones would crowd the subtitle
        worg = watermark_origin(rng, wov, W, H, corner)
        wm = (wov, worg)
        reserved.add(wov.polygon + np.asarray(worg, np.float32))
        items.append(GtItem(wtext, "watermark", 0.0, n_frames / fps, _quad(wov, worg)))

    marquee: tuple[Overlay, int, float, float] | None = None  # overlay, y, start, x at start
    if spec.marquee:
        parts = [corpus.cn_phrase(rng) for _ in range(3)] + [corpus.phone_number(rng), corpus.url(rng)]
        mtext = "  ".join(parts)
        mov = make_overlay(mtext, 32, (255, 255, 255), 2, (30, 30, 30), weight="Bold")
        my = int(H * 0.12)
        m_start = float(rng.uniform(0.0, 2.0))
        bx0, by0, _, by1 = mov.bbox
        band = np.array([[0, my - 8], [W, my - 8], [W, my + by1 - by0 + 8], [0, my + by1 - by0 + 8]], np.float32)
        reserved.add(band)
        marquee = (mov, my, m_start, float(W))
        org = overlay_origin_for(mov, (W, my))
        items.append(GtItem(mtext, "marquee", m_start, n_frames / fps, _quad(mov, org), velocity=[-spec.marquee_speed, 0.0]))

    # Scenes: each with its own background; transitions between them.
    scenes: list[_Scene] = []
    plan = _plan_scenes(rng, spec)
    want_fade = len(plan) >= 2  # guarantee one fade and one pan when there is room for them
    want_pan = len(plan) >= 2
    fade_at = int(rng.integers(1, len(plan))) if want_fade else -1
    pan_at = int(rng.integers(0, len(plan))) if want_pan else -1
    for k, (s, e) in enumerate(plan):
        pans = k == pan_at or rng.random() < spec.pan_prob
        speed = float(rng.uniform(*spec.pan_speed)) if pans else 0.0
        travel = int(np.ceil(speed * (e - s))) + 2
        horizontal = rng.random() < 0.7
        bw, bh = (W + travel, H) if horizontal else (W, H + travel)
        bg = random_background(rng, bw, bh)
        pan = ((speed if rng.random() < 0.5 else -speed), 0.0) if horizontal else (0.0, speed)
        if k == 0:
            trans, ts = "none", 0.0
        elif k == fade_at or rng.random() < spec.fade_prob:
            trans, ts = ("fade" if rng.random() < 0.6 else "crossfade"), float(rng.uniform(*spec.fade_s))
        else:
            trans, ts = "cut", 0.0
        scenes.append(_Scene(s, e, bg, pan, trans, ts))

    # Captions fixed on screen per scene (the "scattered" text of real videos).
    luma_cache: dict[int, np.ndarray] = {}
    for k, sc in enumerate(scenes):
        n_cap = int(rng.integers(spec.captions_per_scene[0], spec.captions_per_scene[1] + 1))
        occ = Occupancy(W, H, margin=10)
        occ.mask |= reserved.mask
        first = sc.frame(sc.start, W, H)
        luma_cache[k] = cv2.cvtColor(first, cv2.COLOR_BGR2GRAY)
        for _ in range(n_cap):
            text = corpus.scattered_text(rng)
            for _attempt in range(30):
                size = int(rng.integers(22, 56))
                x, y = rng.uniform(0, W * 0.8), rng.uniform(0, H * 0.75)
                region = luma_cache[k][int(y) : int(y) + size, int(x) : int(x) + size * len(text)]
                col, st_col, st_w = _contrast_color(rng, float(region.mean()) if region.size else 128.0)
                if sc.pan != (0.0, 0.0) and st_w == 0:  # moving background: always outline
                    st_col, st_w = ((0, 0, 0) if sum(col) > 380 else (255, 255, 255)), 2
                ov = make_overlay(text, size, col, st_w, st_col, float(rng.uniform(-8, 8)), "Bold")
                org = overlay_origin_for(ov, (x, y))
                poly = ov.polygon + np.asarray(org, np.float32)
                if occ.fits(poly):
                    occ.add(poly)
                    sc.captions.append((ov, org))
                    # Fully visible from the end of the incoming transition to the scene's end
                    # (the next scene's transition fades it out after that).
                    items.append(GtItem(text, "scattered", sc.start + sc.trans_s, sc.end, _quad(ov, org)))
                    break

    # Subtitles, with banned phrases swapped into some of them or shown as banners.
    slots = _plan_subtitles(rng, spec) if spec.subtitles else []
    banned_slots: dict[int, str] = {}
    banners: list[tuple[Overlay, tuple[int, int], float, float]] = []
    for phrase in spec.banned:
        if slots and rng.random() < 0.6:
            free = [i for i in range(len(slots)) if i not in banned_slots]
            if free:
                banned_slots[free[int(rng.integers(len(free)))]] = phrase
                continue
        # Banner: a bold line on a solid plate in the upper middle.
        text = _banned_sentence(rng, phrase)
        ov = make_overlay(text, int(rng.integers(34, 50)), (0, 230, 255), 3, (0, 0, 120), weight="Black")
        bx0, by0, bx1, by1 = ov.bbox
        org = overlay_origin_for(ov, ((W - (bx1 - bx0)) / 2, H * rng.uniform(0.25, 0.45)))
        s = float(rng.uniform(0.5, max(0.6, spec.duration_s - 4.0)))
        e = min(spec.duration_s, s + float(rng.uniform(2.0, 4.0)))
        banners.append((ov, org, s, e))
        items.append(GtItem(text, "banned", s, e, _quad(ov, org), keyword=phrase, style="banner"))

    subs: list[tuple[Overlay, tuple[int, int], float, float]] = []
    for i, (s, e) in enumerate(slots):
        if i in banned_slots:
            text, kind, kw = _banned_sentence(rng, banned_slots[i]), "banned", banned_slots[i]
        else:
            text, kind, kw = corpus.subtitle_text(rng), "subtitle", None
        size = int(rng.integers(30, 46))
        ov = subtitle_overlay(text, size)
        while ov.bbox[2] - ov.bbox[0] > W * 0.9 and size > 16:
            size -= 2
            ov = subtitle_overlay(text, size)
        org = subtitle_origin(ov, W, H, sub_margin)
        subs.append((ov, org, s, e))
        items.append(GtItem(text, kind, s, e, _quad(ov, org), keyword=kw, style="subtitle" if kw else None))

    # Per-frame noise from a few precomputed fields (drawing fresh noise per frame costs more
    # than encoding it).
    # A random window into a larger field each frame, so the noise never repeats exactly (a
    # repeating pattern would look like static content to motion estimation).
    noise_pos = noise_neg = None
    pad = 64
    if spec.noise_sigma > 0:
        n = rng.normal(0, spec.noise_sigma, (H + pad, W + pad, 3)).round()
        noise_pos = np.clip(n, 0, 255).astype(np.uint8)
        noise_neg = np.clip(-n, 0, 255).astype(np.uint8)

    writer, fcc = open_writer(path, fps, (W, H), spec.codec)
    try:
        si = 0
        for fi in range(n_frames):
            t = fi / fps
            while si + 1 < len(scenes) and t >= scenes[si + 1].start:
                si += 1
            sc = scenes[si]
            frame = sc.frame(t, W, H)
            if si > 0 and sc.transition in ("fade", "crossfade") and t < sc.start + sc.trans_s:
                a = (t - sc.start) / sc.trans_s  # 0 -> 1 through the transition
                prev = scenes[si - 1].frame(t, W, H)
                if sc.transition == "crossfade":
                    frame = cv2.addWeighted(prev, 1 - a, frame, a, 0)
                else:  # through black: first half fades out the old scene, second fades in the new
                    frame = cv2.convertScaleAbs(prev, alpha=max(0.0, 1 - 2 * a)) if a < 0.5 else cv2.convertScaleAbs(frame, alpha=2 * a - 1)
            if noise_pos is not None:
                ox, oy = (int(v) for v in rng.integers(0, pad, 2))
                cv2.add(frame, noise_pos[oy : oy + H, ox : ox + W], dst=frame)
                cv2.subtract(frame, noise_neg[oy : oy + H, ox : ox + W], dst=frame)
            if wm:
                composite(frame, *wm)
            if marquee and t >= marquee[2]:
                mov, my, m_start, x0 = marquee
                x = x0 - spec.marquee_speed * (t - m_start)
                if x + mov.size[0] < 0:  # loop the ticker
                    period = (W + mov.size[0]) / spec.marquee_speed
                    x = x0 - spec.marquee_speed * ((t - m_start) % period)
                composite(frame, mov, overlay_origin_for(mov, (x, my)))
            for ov, org, s, e in banners:
                if s <= t < e:
                    composite(frame, ov, org)
            for ov, org, s, e in subs:
                if s <= t < e:
                    composite(frame, ov, org)
            writer.write(frame)
    finally:
        writer.release()

    gt = GroundTruth(
        video=path.name, width=W, height=H, fps=fps, duration_s=n_frames / fps, frames=n_frames, seed=seed, codec=fcc,
        scenes=[GtScene(s.start, s.end, "pan" if s.pan != (0.0, 0.0) else "static", list(s.pan), s.transition, s.trans_s)
                for s in scenes],
        items=items,
    )
    gt_path(path).write_text(gt.to_json(), encoding="utf-8")
    return gt


def make_sample_set(
    out_dir: str | os.PathLike[str],
    n: int,
    seed: int = 0,
    banned: list[str] | None = None,
    duration_s: float = 20.0,
    fps: float = 25.0,
    width: int = 1280,
    height: int = 720,
) -> list[Path]:
    """``n`` videos ``sample_000.mp4``...; even-numbered ones carry the banned phrases, odd ones are clean.

    Existing files with a ground truth beside them are reused (same name, same seed => same video).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = out / f"sample_{i:03d}.mp4"
        spec = VideoSpec(duration_s=duration_s, fps=fps, width=width, height=height,
                         banned=list(banned or []) if i % 2 == 0 else [], marquee=(i % 3 == 2))
        vseed = seed * 1000 + i
        gp = gt_path(p)
        if p.is_file() and gp.is_file():
            try:
                g = GroundTruth.load(gp)
                kws = sorted(i.keyword for i in g.items if i.keyword)
                same = (g.seed == vseed and abs(g.duration_s - duration_s) < 1 / fps and g.fps == fps
                        and g.width == width and g.height == height and kws == sorted(spec.banned)
                        and any(i.kind == "marquee" for i in g.items) == spec.marquee)
                if same:
                    paths.append(p)
                    continue
            except (ValueError, KeyError, TypeError):
                pass
        make_video(p, spec, seed=vseed)
        paths.append(p)
    return paths
