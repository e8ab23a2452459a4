"""The video generator's ground truth must match what the video shows."""

from __future__ import annotations

import json

import cv2
import numpy as np

from ray_ocr.training import corpus
from ray_ocr.training.synth_video import GroundTruth, VideoSpec, gt_path, make_sample_set, make_video, min_cover


def _frame_at(path, index):
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, f = cap.read()
    assert ok
    return f


def test_ground_truth_file_and_timeline(mixed_videos):
    for path, gt in mixed_videos:
        assert path.is_file() and gt_path(path).is_file()
        loaded = GroundTruth.load(gt_path(path))
        assert loaded == gt
        raw = json.loads(gt_path(path).read_text(encoding="utf-8"))
        assert {"text", "kind", "start", "end", "polygon"} <= set(raw["items"][0])
        cap = cv2.VideoCapture(str(path))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == gt.frames == 180
        assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (1280, 720)
        subs = sorted(gt.subtitle_lines(), key=lambda i: i.start)
        for a, b in zip(subs, subs[1:]):
            assert a.end <= b.start  # one subtitle at a time
        for s in subs:
            assert 1.5 <= s.end - s.start <= 4.0
        assert sum(i.kind == "watermark" for i in gt.items) == 1
        # Scenes tile the video.
        assert gt.scenes[0].start == 0 and abs(gt.scenes[-1].end - gt.duration_s) < 1e-6
        for a, b in zip(gt.scenes, gt.scenes[1:]):
            assert a.end == b.start
        for it in gt.items:
            assert set(it.text) <= corpus.dictionary_chars(), it.text


def test_variety(mixed_videos):
    kinds = {i.kind for _, gt in mixed_videos for i in gt.items}
    assert kinds >= {"subtitle", "watermark", "scattered", "marquee", "banned"}
    transitions = {s.transition_in for _, gt in mixed_videos for s in gt.scenes}
    assert {"fade", "cut"} <= transitions or {"crossfade", "cut"} <= transitions
    assert any(s.motion == "pan" for _, gt in mixed_videos for s in gt.scenes)
    banned = [i for _, gt in mixed_videos for i in gt.items if i.kind == "banned"]
    assert {b.keyword for b in banned} == {"加微信", "代开发票"}
    assert all(b.keyword in b.text for b in banned)


def test_subtitle_polygon_matches_pixels(mixed_videos):
    """At mid-subtitle, white subtitle ink sits inside the GT quad and not just above it."""
    path, gt = mixed_videos[0]
    for s in gt.subtitle_lines()[:3]:
        f = _frame_at(path, int(((s.start + s.end) / 2) * gt.fps))
        p = np.asarray(s.polygon)
        x0, y0 = np.floor(p.min(axis=0)).astype(int)
        x1, y1 = np.ceil(p.max(axis=0)).astype(int)
        white = (f.min(axis=2) > 215)
        inside = white[y0:y1, x0:x1].mean()
        above = white[y0 - (y1 - y0) - 4 : y0 - 4, x0:x1].mean()
        assert inside > 0.08 and inside > 3 * above, (s.text, inside, above)
        # and the dark outline lies within a few pixels of the quad
        rows = np.nonzero(white[:, x0:x1].any(axis=1))[0]
        rows = rows[(rows > y0 - 30) & (rows < y1 + 30)]
        assert rows.min() >= y0 - 3 and rows.max() <= y1 + 3


def test_marquee_moves(mixed_videos):
    path, gt = mixed_videos[1]
    m = next(i for i in gt.items if i.kind == "marquee")
    assert m.velocity and m.velocity[0] < 0
    p = np.asarray(m.polygon)
    y0, y1 = int(p[:, 1].min()), int(p[:, 1].max())
    i0 = int(np.ceil((m.start + 2) * gt.fps))
    a = _frame_at(path, i0)[y0:y1].min(axis=2) > 225  # the ticker is white text
    b = _frame_at(path, i0 + int(gt.fps))[y0:y1].min(axis=2) > 225
    assert a.sum() > 500
    # One second later the white text is found |v| px further left.
    err = {d: np.logical_xor(a[:, d:], b[:, :-d]).mean() for d in range(40, 161)}
    best = min(err, key=err.get)
    assert abs(best + m.velocity[0]) <= 3, best


def test_deterministic(tmp_path):
    spec = VideoSpec(duration_s=3, fps=5, banned=["私聊"])
    a = make_video(tmp_path / "a.mp4", spec, seed=9)
    b = make_video(tmp_path / "b.mp4", spec, seed=9)
    a.video = b.video = ""
    assert a == b
    c = make_video(tmp_path / "c.mp4", spec, seed=10)
    assert [i.text for i in c.items] != [i.text for i in a.items]


def test_sample_set(tmp_path):
    paths = make_sample_set(tmp_path, 3, seed=1, banned=["微信"], duration_s=4, fps=5)
    assert [p.name for p in paths] == ["sample_000.mp4", "sample_001.mp4", "sample_002.mp4"]
    gts = [GroundTruth.load(gt_path(p)) for p in paths]
    assert any(i.keyword == "微信" for i in gts[0].items)
    assert not any(i.kind == "banned" for i in gts[1].items)  # odd ones are clean
    assert any(i.kind == "marquee" for i in gts[2].items)
    mtimes = [p.stat().st_mtime_ns for p in paths]
    again = make_sample_set(tmp_path, 3, seed=1, banned=["微信"], duration_s=4, fps=5)
    assert again == paths and [p.stat().st_mtime_ns for p in paths] == mtimes  # reused, not re-rendered
    make_sample_set(tmp_path, 1, seed=1, banned=["别的"], duration_s=4, fps=5)
    assert any(i.keyword == "别的" for i in GroundTruth.load(gt_path(paths[0])).items)  # spec changed: re-rendered


def test_min_cover():
    from ray_ocr.training.synth_video import GtItem

    items = [GtItem("a", "subtitle", 0, 2, []), GtItem("b", "subtitle", 1, 3, []), GtItem("c", "subtitle", 5, 6, [])]
    assert min_cover(items, 10) == 2
