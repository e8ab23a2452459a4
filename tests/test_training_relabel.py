"""The daily relabel package: a real Parquet store with real OCR results, evidence JPEGs and
reviews, a real video to decode clean frames from; the package must hold exactly the false
positives with the stored lines as PaddleOCR labels."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from ray_ocr.moderation import KeywordLibrary, Moderator
from ray_ocr.moderation.evidence import evidence_path, save_evidence
from ray_ocr.schemas import Verdict, VideoResult
from ray_ocr.store import FrameText, ResultStore
from ray_ocr.training.relabel import build_relabel_package, fit_evidence_scale, video_frame_source
from ray_ocr.training.synth import render_text_image

DAY = "2026-03-14"
T0 = 1773489600.0  # 2026-03-14T12:00:00Z
W, H, FPS = 640, 360, 5
TEXTS = ["加微信领红包", "今天天气很好", "关注我们的频道", "微信扫码有惊喜"]


def _write_video(path: Path, frames: list[np.ndarray], seconds_each: int = 1) -> None:
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    assert vw.isOpened()
    for f in frames:
        for _ in range(FPS * seconds_each):
            vw.write(f)
    vw.release()


@pytest.fixture(scope="module")
def world(tmp_path_factory, ocr_engine):
    """Store with: fp_video (reject, passed; video on disk), fp_gone (reject, passed; video
    deleted, evidence at a smaller size), tp (reject, confirmed), unreviewed (reject), ok
    (pass, passed), flip (reject, passed then rejected), fp_other_day (next day)."""
    root = tmp_path_factory.mktemp("relabel")
    data = root / "data"
    store = ResultStore(data)
    lib = KeywordLibrary.from_text("微信\tad\n")
    mod = Moderator(lib)
    frames = [render_text_image(s, W, H, n_items=(3, 4), texts=TEXTS) for s in (11, 12, 13)]
    reads = [ocr_engine.read(f.image) for f in frames]
    hits = [mod.check_frame(ls) for ls in reads]
    assert all(hits), "precondition: every rendered frame has a keyword the OCR reads"
    video = root / "fp_video.mp4"
    _write_video(video, [f.image for f in frames])
    expect: dict[str, dict] = {}

    def put(vid: str, verdict: Verdict, idxs: list[int], path: str, day_offset: float = 0, max_side: int = 960):
        vhits, fts = [], []
        for k, i in enumerate(idxs):
            ts = k + 0.4  # the video shows frame k during [k, k+1)
            ev = save_evidence(evidence_path(data, vid, k), frames[i].image, reads[i], hits[i], max_side=max_side)
            vhits += [h.to_video_hit(ts, k, str(ev)) for h in hits[i]]
            fts.append(FrameText(k, ts, reads[i]))
        fts.append(FrameText(len(idxs), len(idxs) + 0.4, reads[0]))  # an OCR'd frame without a hit
        res = VideoResult(video_id=vid, path=path, md5=vid, verdict=verdict, hits=vhits if verdict == Verdict.REJECT else [],
                          keyframes=len(fts), ocr_frames=len(fts), reason="ad: 微信")
        store.write_result(res, fts, finished_at=T0 + len(expect) + day_offset,
                           model_version=ocr_engine.model_version, keywords_version=lib.version)
        expect[vid] = {"idxs": idxs}

    put("fp_video", Verdict.REJECT, [0, 1, 2], str(video))
    put("fp_gone", Verdict.REJECT, [2], str(root / "deleted.mp4"), max_side=480)
    put("tp", Verdict.REJECT, [0], str(video))
    put("unreviewed", Verdict.REJECT, [1], str(video))
    put("ok", Verdict.PASS, [1], str(video))
    put("flip", Verdict.REJECT, [1], str(video))
    put("fp_other_day", Verdict.REJECT, [0], str(video), day_offset=86400)
    store.record_review("fp_video", "pass", "alice")
    store.record_review("fp_gone", "pass", "bob")
    store.record_review("tp", "reject", "alice")
    store.record_review("ok", "pass", "alice")
    store.record_review("flip", "pass", "alice")
    store.record_review("flip", "reject", "carol")
    store.record_review("fp_other_day", "pass", "alice")
    return {"root": root, "store": store, "frames": frames, "reads": reads, "lib": lib, "engine": ocr_engine}


def _labels(pkg: Path) -> dict[str, list[dict]]:
    out = {}
    for line in (pkg / "Label.txt").read_text(encoding="utf-8").splitlines():
        img, js = line.split("\t")
        out[img] = json.loads(js)
    return out


def test_package_holds_exactly_the_false_positives(world, tmp_path: Path) -> None:
    pkg = build_relabel_package(world["store"], DAY, tmp_path)
    assert pkg == tmp_path / f"relabel-{DAY}"
    assert [p.name for p in tmp_path.iterdir()] == [pkg.name]  # no temp folder left behind
    man = json.loads((pkg / "manifest.json").read_text(encoding="utf-8"))
    assert [v["video_id"] for v in man["videos"]] == ["fp_video", "fp_gone"]
    assert man["counts"] == {"videos": 2, "frames": 4, "lines": sum(len(world["reads"][i]) for i in (0, 1, 2, 2)),
                             "skipped_frames": 0, "from_video": 3, "from_evidence": 1}
    assert man["model_versions"] == [world["engine"].model_version]
    assert man["keywords_versions"] == [world["lib"].version]
    assert "false positives" in (pkg / "README.txt").read_text(encoding="utf-8")

    labels = _labels(pkg)
    rows = [json.loads(s) for s in (pkg / "frames.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["video_id"], r["frame_index"]) for r in rows] == [("fp_video", 0), ("fp_video", 1), ("fp_video", 2), ("fp_gone", 0)]
    assert list(labels) == [r["image"] for r in rows]
    for r, src in zip(rows, (0, 1, 2, 2)):
        truth = world["reads"][src]
        items = labels[r["image"]]
        # Transcriptions are what the OCR read, in line order, one label per stored line.
        assert [it["transcription"] for it in items] == [ln.text for ln in truth]
        assert all(it["difficult"] is False and len(it["points"]) == 4 for it in items)
        img = cv2.imread(str(pkg / r["image"]))
        ev = pkg / r["evidence"]
        assert ev.read_bytes() == evidence_path(world["store"].root, r["video_id"], r["frame_index"]).read_bytes()
        scale = 1.0 if r["image_source"] == "frame" else 0.75  # fp_gone's evidence is 480 px wide
        for it, ln in zip(items, truth):
            np.testing.assert_allclose(it["points"], np.asarray(ln.box) * scale, atol=0.01)
        assert any(ln["hit_keywords"] == ["微信"] for ln in r["lines"])
        assert all(ln["model_version"] == world["engine"].model_version for ln in r["lines"])
        if r["image_source"] == "frame":
            # The clean frame decoded from the video is the right one (mp4 is lossy: nearest wins).
            assert img.shape == (H, W, 3)
            diffs = [np.abs(img.astype(int) - f.image.astype(int)).mean() for f in world["frames"]]
            assert int(np.argmin(diffs)) == src and diffs[src] < 8
        else:
            assert r["video_id"] == "fp_gone" and img.shape == (270, 480, 3)


def test_rebuild_replaces_and_zip(world, tmp_path: Path) -> None:
    first = build_relabel_package(world["store"], DAY, tmp_path, frames_source=None)
    before = (first / "Label.txt").read_text(encoding="utf-8")
    again = build_relabel_package(world["store"], DAY, tmp_path, frames_source=None)
    assert again == first and (again / "Label.txt").read_text(encoding="utf-8") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name]
    man = json.loads((first / "manifest.json").read_text(encoding="utf-8"))
    assert man["counts"]["from_evidence"] == 4 and man["counts"]["from_video"] == 0

    z = build_relabel_package(world["store"], DAY, tmp_path, frames_source=None, as_zip=True)
    assert z == tmp_path / f"relabel-{DAY}.zip"
    with zipfile.ZipFile(z) as zf:
        assert zf.read(f"relabel-{DAY}/Label.txt").decode("utf-8") == before
        assert sum(n.startswith(f"relabel-{DAY}/images/") for n in zf.namelist()) == 4


def test_empty_day_gives_an_empty_package(world, tmp_path: Path) -> None:
    pkg = build_relabel_package(world["store"], "2026-03-01", tmp_path)
    man = json.loads((pkg / "manifest.json").read_text(encoding="utf-8"))
    assert man["counts"] == {"videos": 0, "frames": 0, "lines": 0, "skipped_frames": 0, "from_video": 0, "from_evidence": 0}
    assert (pkg / "Label.txt").read_text(encoding="utf-8") == ""
    assert list((pkg / "images").iterdir()) == []


@pytest.mark.parametrize("day", ["14/03/2026", "2026-3-14", "yesterday", "2026-13-01", "2026-02-30", ""])
def test_bad_day_is_a_clear_error_and_writes_nothing(world, tmp_path: Path, day: str) -> None:
    with pytest.raises(ValueError, match="day"):
        build_relabel_package(world["store"], day, tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_unreadable_evidence_and_no_video_is_skipped_not_fatal(world, tmp_path: Path) -> None:
    # A store of its own: one false positive whose evidence JPEG was removed and whose video is gone.
    store = ResultStore(tmp_path / "data")
    frame = world["frames"][0]
    lines = world["reads"][0]
    hits = Moderator(world["lib"]).check_frame(lines)
    ev = save_evidence(evidence_path(store.root, "v", 0), frame.image, lines, hits)
    store.write_result(VideoResult(video_id="v", path=str(tmp_path / "none.mp4"), verdict=Verdict.REJECT,
                                   hits=[h.to_video_hit(0.4, 0, str(ev)) for h in hits]),
                       [FrameText(0, 0.4, lines)], finished_at=T0)
    store.record_review("v", "pass", "x")
    ev.unlink()
    pkg = build_relabel_package(store, DAY, tmp_path / "out")
    man = json.loads((pkg / "manifest.json").read_text(encoding="utf-8"))
    assert man["counts"]["videos"] == 1 and man["counts"]["frames"] == 0 and man["counts"]["skipped_frames"] == 1
    assert man["skipped"][0]["video_id"] == "v"


def test_a_failing_frame_source_falls_back_to_evidence(world, tmp_path: Path) -> None:
    def broken(path, wanted):
        raise RuntimeError("decoder crashed")

    pkg = build_relabel_package(world["store"], DAY, tmp_path, frames_source=broken)
    man = json.loads((pkg / "manifest.json").read_text(encoding="utf-8"))
    assert man["counts"]["frames"] == 4 and man["counts"]["from_evidence"] == 4


def test_video_frame_source_picks_frames_by_time(world) -> None:
    got = video_frame_source(str(world["root"] / "fp_video.mp4"), [(7, 2.4), (3, 0.0)])
    assert sorted(got) == [3, 7]
    for idx, src in ((3, 0), (7, 2)):
        diffs = [np.abs(got[idx].astype(int) - f.image.astype(int)).mean() for f in world["frames"]]
        assert int(np.argmin(diffs)) == src
    assert video_frame_source(str(world["root"] / "missing.mp4"), [(0, 0.0)]) == {}


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (640, 360), (1000, 700)])
def test_fit_evidence_scale_recovers_the_shrink(world, size) -> None:
    from ray_ocr.moderation.evidence import encode_jpeg, render_evidence

    w, h = size
    synth = render_text_image(5, w, h)
    lines = world["engine"].read(synth.image)
    assert lines
    ev = cv2.imdecode(np.frombuffer(encode_jpeg(render_evidence(synth.image, lines, [], 960)), np.uint8), cv2.IMREAD_COLOR)
    assert fit_evidence_scale(ev, [np.asarray(ln.box) for ln in lines]) == pytest.approx(min(1.0, 960 / max(w, h)), abs=1e-3)
