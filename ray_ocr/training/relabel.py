"""The daily relabel package: frames of false positives (machine rejected, human passed) with
the OCR lines as editable PaddleOCR labels, so annotators correct what the models misread.

Layout of ``relabel-YYYY-MM-DD/`` (or the same inside ``relabel-YYYY-MM-DD.zip``)::

    README.txt      what annotators do
    manifest.json   day, counts, model and keyword versions, frames left out and why
    Label.txt       PaddleOCR/PPOCRLabel det labels: ``image\\t[{"transcription", "points", "difficult"}]``
    frames.jsonl    one row per frame: video, ts, image, evidence, scale, lines with score,
                    model_version and the keywords each line triggered
    images/         the clean frame (decoded again from the video) when it can be had,
                    else the reviewer's evidence JPEG, labels scaled to it
    evidence/       the reviewer's marked-up screenshot, for reference

The package is built in a temp folder beside the target and renamed into place, so a reader
sees the previous package or the complete new one. Label.txt only holds transcriptions and
points (plus PPOCRLabel's ``difficult``) so PaddleOCR's loaders read it as is; everything
else lives in frames.jsonl.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow.dataset as ds

from ray_ocr.store.atomic import atomic_write, fsync_dir
from ray_ocr.store.results import ResultStore, _check_day

log = logging.getLogger(__name__)

PACKAGE_FORMAT = 1
# (video path, [(frame_index, ts)]) -> {frame_index: BGR frame}; batched per video so a
# decoder makes one pass over the file however many hit frames it has.
FrameSource = Callable[[str, Sequence[tuple[int, float]]], dict[int, np.ndarray]]

README = """\
Relabel package for {day}: {frames} frames from {videos} videos that the machine rejected
and a human reviewer passed (false positives).

For every frame, Label.txt holds what the OCR models read, one PaddleOCR label line per image:

    images/<video>__<frame>.jpg<TAB>[{{"transcription": "...", "points": [[x,y],[x,y],[x,y],[x,y]], "difficult": false}}]

Your job: correct each "transcription" to exactly the text in the image (keep spaces only
where the image shows them). Fix a box by editing its four corner points (clockwise from the
text's top-left, in image pixels); add missing lines, delete boxes with no text. Mark text
you cannot read with "difficult": true. The file opens in PPOCRLabel, or any text editor.

evidence/ holds the screenshot the reviewer saw (red boxes: the lines that hit a keyword).
frames.jsonl says, per image, which keywords each line triggered and the OCR confidence:
look hardest at those lines, they caused the false alarm. Images whose "image_source" is
"evidence" are the marked-up screenshot (the video was no longer available); their labels are
scaled to it. Model versions: {models}. Keyword library: {keywords}.
"""


@dataclass
class _Frame:
    video_id: str
    frame_index: int
    ts: float
    evidence: str | None
    keywords: list[str] = field(default_factory=list)
    hits: list[tuple[str, str]] = field(default_factory=list)  # (keyword, hit line text)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def video_frame_source(path: str, wanted: Sequence[tuple[int, float]]) -> dict[int, np.ndarray]:
    """Decode ``path`` once and keep the frame nearest each wanted timestamp. Frames are looked
    up by time because the store's frame_index counts keyframes, not stream frames."""
    from ray_ocr.video.decode import VideoError, VideoReader

    out: dict[int, np.ndarray] = {}
    if not wanted:
        return out
    try:
        reader = VideoReader(path)
    except (VideoError, OSError) as exc:
        log.info("no clean frames from %s: %s", path, exc)
        return out
    with reader:
        half = 0.5 / reader.fps
        todo = sorted(wanted, key=lambda w: w[1])
        for fr in reader.frames(None):
            while todo and fr.ts + half >= todo[0][1]:
                out[todo.pop(0)[0]] = fr.image
            if not todo:
                break
    return out


def fit_evidence_scale(evidence: np.ndarray, boxes: Sequence[np.ndarray]) -> float:
    """The factor the evidence renderer shrank the frame by, found from the box outlines it drew.

    The store keeps boxes in frame pixels but not the frame's size, and the evidence JPEG is the
    frame shrunk to a long side of ``evidence_max_side`` (a setting that may have changed since).
    Every box is outlined in red or pale green, so try each possible original long side and keep
    the one whose scaled outlines land on outline-coloured pixels.
    """
    from ray_ocr.moderation.evidence import BOX_BGR, HIT_BGR

    if not boxes:
        return 1.0
    img = evidence.astype(np.float32)
    like = np.zeros(img.shape[:2], np.float32)
    for col in (HIT_BGR, BOX_BGR):
        d2 = ((img - np.asarray(col, np.float32)) ** 2).sum(axis=2)
        like = np.maximum(like, np.exp(-d2 / (2 * 40.0**2)))
    eh, ew = img.shape[:2]
    long_ev = max(eh, ew)
    # Points every frame pixel along each box edge; scaled down they are at most 1 px apart.
    pts = []
    for b in boxes:
        b = np.asarray(b, np.float64)
        for a, c in zip(b, np.roll(b, -1, axis=0)):
            n = int(np.ceil(np.linalg.norm(c - a))) + 1
            pts.append(a + (c - a) * np.linspace(0, 1, n)[:, None])
    p = np.concatenate(pts)
    # The original long side is at least the evidence's and large enough to hold every box.
    lo = max(long_ev, int(np.floor(max(p[:, 0].max() * long_ev / ew, p[:, 1].max() * long_ev / eh))) - 2)
    long_src = np.arange(lo, long_ev * 8 + 1)
    scores = np.empty(len(long_src))
    for i in range(0, len(long_src), 128):  # chunks bound the (scales x points) index array
        s = (long_ev / long_src[i : i + 128])[:, None, None]
        q = np.round(p[None] * s).astype(np.int64)
        inside = (q[..., 0] >= 0) & (q[..., 0] < ew) & (q[..., 1] >= 0) & (q[..., 1] < eh)
        vals = like[np.clip(q[..., 1], 0, eh - 1), np.clip(q[..., 0], 0, ew - 1)] * inside
        scores[i : i + 128] = vals.mean(axis=1)
    return float(long_ev / long_src[int(np.argmax(scores))])


def _paddle_label(image: str, lines: list[dict[str, Any]]) -> str:
    items = [{"transcription": ln["text"], "points": ln["points"], "difficult": False} for ln in lines]
    return f"{image}\t{json.dumps(items, ensure_ascii=False)}"


def _points(box: Any, scale: float) -> list[list[float]]:
    return [[round(float(x) * scale, 2), round(float(y) * scale, 2)] for x, y in box]


def _write_jpeg(path: Path, img: np.ndarray, quality: int = 95) -> None:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode {path.name}")
    path.write_bytes(buf.tobytes())


def _read_image(path: Path) -> np.ndarray | None:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None


def _fits(frame: np.ndarray, boxes: list[Any]) -> bool:
    """A decoded frame belongs to these boxes only if they lie inside it (a re-encoded or
    replaced file at the same path would not)."""
    h, w = frame.shape[:2]
    return all(0 <= x <= w + 1 and 0 <= y <= h + 1 for b in boxes for x, y in b)


def build_relabel_package(
    store: ResultStore,
    day: str,
    out_dir: str | os.PathLike[str],
    frames_source: FrameSource | None = video_frame_source,
    *,
    as_zip: bool = False,
) -> Path:
    """Write the relabel package of ``day``'s false positives under ``out_dir``; returns the
    folder (or .zip) path. A day without false positives gives an empty package. Raises
    ValueError for a day that is not YYYY-MM-DD or not a calendar date.

    ``frames_source`` decodes clean frames (default: from the video path the store recorded);
    None packages the evidence JPEGs only.
    """
    _check_day(day)
    import datetime

    try:
        datetime.date.fromisoformat(day)
    except ValueError as exc:
        raise ValueError(f"day {day!r} is not a calendar date ({exc})") from None

    fpos = store.false_positives(day)
    frames: list[_Frame] = []
    for v in fpos:
        by_index: dict[int, _Frame] = {}
        for h in v["hits"]:
            idx = h["frame_index"]
            if idx is None:
                continue
            fr = by_index.setdefault(idx, _Frame(v["video_id"], int(idx), float(h["ts"]), h["evidence"]))
            fr.evidence = fr.evidence or h["evidence"]
            if h["keyword"] not in fr.keywords:
                fr.keywords.append(h["keyword"])
            fr.hits.append((h["keyword"], h["text"] or ""))
        frames.extend(sorted(by_index.values(), key=lambda f: f.frame_index))

    # All lines of the false positives' results in one scan of the day's partition.
    lines_by_frame: dict[tuple[str, int], list[dict[str, Any]]] = {}
    if fpos:
        flt = ds.field("result_id").isin([v["result_id"] for v in fpos])
        for r in store.table("lines", flt, day=day).to_pylist():
            lines_by_frame.setdefault((r["video_id"], r["frame_index"]), []).append(r)
    for rows in lines_by_frame.values():
        rows.sort(key=lambda r: r["line_index"])

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"relabel-{day}"
    tmp = out_dir / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    try:
        _fill(tmp, day, fpos, frames, lines_by_frame, frames_source)
        if as_zip:
            return _zip_into_place(tmp, out_dir / f"{name}.zip")
        return _rename_into_place(tmp, out_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fill(
    tmp: Path,
    day: str,
    fpos: list[dict[str, Any]],
    frames: list[_Frame],
    lines_by_frame: dict[tuple[str, int], list[dict[str, Any]]],
    frames_source: FrameSource | None,
) -> dict[str, Any]:
    (tmp / "images").mkdir(parents=True)
    (tmp / "evidence").mkdir()
    paths = {v["video_id"]: v["path"] for v in fpos}
    clean: dict[tuple[str, int], np.ndarray] = {}
    if frames_source is not None:
        for vid, path in paths.items():
            wanted = [(f.frame_index, f.ts) for f in frames if f.video_id == vid]
            try:
                got = frames_source(path, wanted)
            except Exception as exc:  # noqa: BLE001 - one bad video must not cost the day's package
                log.warning("no clean frames from %s (%s); using its evidence JPEGs", path, exc)
                continue
            for idx, img in got.items():
                clean[(vid, idx)] = img

    label_lines: list[str] = []
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    n_lines = 0
    models: set[str] = {v["model_version"] for v in fpos if v["model_version"]}
    for f in frames:
        stem = f"{_safe(f.video_id)}__{f.frame_index:06d}"
        lines = lines_by_frame.get((f.video_id, f.frame_index), [])
        boxes = [ln["box"] for ln in lines]
        ev_img = _read_image(Path(f.evidence)) if f.evidence else None
        ev_rel = None
        if ev_img is not None:
            ev_rel = f"evidence/{stem}.jpg"
            shutil.copyfile(f.evidence, tmp / ev_rel)
        frame = clean.get((f.video_id, f.frame_index))
        if frame is not None and _fits(frame, boxes):
            source, scale = "frame", 1.0
            image_rel = f"images/{stem}.jpg"
            _write_jpeg(tmp / image_rel, frame)
        elif ev_img is not None:
            source, scale = "evidence", fit_evidence_scale(ev_img, [np.asarray(b) for b in boxes])
            image_rel = f"images/{stem}.jpg"
            shutil.copyfile(tmp / ev_rel, tmp / image_rel)
        else:
            skipped.append({"video_id": f.video_id, "frame_index": f.frame_index,
                            "reason": "neither the video frame nor the evidence JPEG could be read"})
            continue
        out_lines = []
        for ln in lines:
            if ln["model_version"]:
                models.add(ln["model_version"])
            kws = [k for k, t in f.hits if ln["text"] and ln["text"] in t]
            out_lines.append({
                "text": ln["text"], "points": _points(ln["box"], scale), "box": ln["box"], "score": ln["score"],
                "model_version": ln["model_version"], "hit_keywords": sorted(set(kws)),
            })
        n_lines += len(out_lines)
        label_lines.append(_paddle_label(image_rel, out_lines))
        rows.append({
            "image": image_rel, "image_source": source, "scale": round(scale, 6), "evidence": ev_rel,
            "video_id": f.video_id, "video_path": paths[f.video_id], "frame_index": f.frame_index,
            "ts": f.ts, "keywords": f.keywords, "lines": out_lines,
        })

    keywords = sorted({v["keywords_version"] for v in fpos if v["keywords_version"]})
    manifest = {
        "format": PACKAGE_FORMAT,
        "day": day,
        "counts": {"videos": len(fpos), "frames": len(rows), "lines": n_lines, "skipped_frames": len(skipped),
                   "from_video": sum(r["image_source"] == "frame" for r in rows),
                   "from_evidence": sum(r["image_source"] == "evidence" for r in rows)},
        "model_versions": sorted(models),
        "keywords_versions": keywords,
        "videos": [{"video_id": v["video_id"], "path": v["path"], "result_id": v["result_id"],
                    "reason": v["reason"], "model_version": v["model_version"]} for v in fpos],
        "skipped": skipped,
    }
    (tmp / "Label.txt").write_text("".join(s + "\n" for s in label_lines), encoding="utf-8")
    (tmp / "frames.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (tmp / "README.txt").write_text(
        README.format(day=day, frames=len(rows), videos=len(fpos), models=", ".join(sorted(models)) or "none",
                      keywords=", ".join(keywords) or "none"),
        encoding="utf-8",
    )
    return manifest


def _rename_into_place(tmp: Path, final: Path) -> Path:
    for p in tmp.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
    if final.exists():
        # A directory cannot be renamed over a non-empty one: move the old package aside first,
        # so the window without a package is two renames long, and never half a package.
        old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    fsync_dir(final.parent)
    return final


def _zip_into_place(tmp: Path, final: Path) -> Path:
    def write(fh) -> None:
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(tmp.rglob("*")):
                if p.is_file():
                    # JPEGs do not deflate; storing them saves the CPU.
                    ctype = zipfile.ZIP_STORED if p.suffix == ".jpg" else zipfile.ZIP_DEFLATED
                    zf.write(p, f"{final.stem}/{p.relative_to(tmp).as_posix()}", compress_type=ctype)

    return atomic_write(final, write)
