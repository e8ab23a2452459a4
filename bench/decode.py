#!/usr/bin/env python
"""Decoding for keyframe selection: OpenCV (what ray_ocr uses) against PyAV, same video, one run.

Keyframing looks at `video.sample_fps` frames a second, so what matters is the cost of walking
the whole stream while converting only the sampled frames to BGR:

  opencv sampled   ray_ocr.video.decode.VideoReader: grab() every frame, retrieve() the sampled ones
  opencv read all  cv2.VideoCapture.read() of every frame (the naive way)
  pyav sampled     PyAV decode of every frame (threaded), to_ndarray('bgr24') of the sampled ones

    .venv/bin/python bench/decode.py [--quick] [VIDEO]

PyAV is in the `dev` extra only so that this comparison can run; the pipeline does not use it
unless it earns its dependency (see bench/README.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402

from ray_ocr.config import VideoSettings  # noqa: E402
from ray_ocr.video.decode import VideoReader  # noqa: E402


def opencv_sampled(path: Path, fps: float) -> int:
    reader = VideoReader(path, VideoSettings(sample_fps=fps))
    return sum(1 for _ in reader.frames())


def opencv_read_all(path: Path, fps: float) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
    return n


def pyav_sampled(path: Path, fps: float) -> int:
    import av

    kept = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        step = 1.0 / fps
        next_ts = 0.0
        for frame in container.decode(stream):
            ts = float(frame.pts * stream.time_base) if frame.pts is not None else next_ts
            if ts + 1e-6 >= next_ts:
                frame.to_ndarray(format="bgr24")
                kept += 1
                next_ts += step
    return kept


def to_h264(src: Path) -> Path:
    import av

    dst = src.with_name(src.stem + "_h264.mp4")
    if dst.exists():
        return dst
    print(f"transcoding to {dst} ...", file=sys.stderr)
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        vin = inp.streams.video[0]
        s = out.add_stream("libx264", rate=round(float(vin.average_rate or 25)))
        s.width, s.height, s.pix_fmt = vin.width, vin.height, "yuv420p"
        for frame in inp.decode(vin):
            for packet in s.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in s.encode():
            out.mux(packet)
    tmp.replace(dst)
    return dst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", nargs="?", help="default: a generated 2-minute 720p video")
    ap.add_argument("--quick", action="store_true", help="a 20 s video")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--h264", action="store_true", help="transcode the video to H.264 with PyAV's libx264 first (real uploads are H.264; this OpenCV build only writes MPEG-4)")
    args = ap.parse_args()
    if args.video:
        path = Path(args.video)
    else:
        from ray_ocr.training.synth_video import VideoSpec, make_video

        dur = 20.0 if args.quick else 120.0
        path = Path(__file__).resolve().parent / "results" / "decode" / f"video_{int(dur)}s.mp4"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            print(f"generating {path} ...", file=sys.stderr)
            make_video(path, VideoSpec(duration_s=dur, width=1280, height=720), seed=7)
    if args.h264:
        path = to_h264(path)
    cap = cv2.VideoCapture(str(path))
    total, fps_src = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    sample = VideoSettings().sample_fps

    systems = {"opencv sampled (ours)": opencv_sampled, "opencv read all": opencv_read_all}
    try:
        import av  # noqa: F401

        systems["pyav sampled"] = pyav_sampled
    except ImportError:
        print("PyAV not installed (pip install -e '.[dev]'); skipping it", file=sys.stderr)
    best: dict[str, float] = {}
    kept: dict[str, int] = {}
    for _ in range(args.repeat):  # interleaved, best of N: load from elsewhere hits all alike
        for name, fn in systems.items():
            t0 = time.perf_counter()
            kept[name] = fn(path, sample)
            best[name] = min(best.get(name, 1e9), time.perf_counter() - t0)
    base = best["opencv sampled (ours)"]
    print(f"\n{path.name}: {total} frames at {fps_src:.0f} fps, sampling {sample}/s")
    print(f"{'decoder':24s} {'stream frames/s':>16s} {'frames out':>11s} {'time vs ours':>13s}")
    for name in systems:
        print(f"{name:24s} {total / best[name]:16.0f} {kept[name]:11d} {best[name] / base:12.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
