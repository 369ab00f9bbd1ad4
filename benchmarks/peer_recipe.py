"""The recipe most users would write, measured the way `backdrop bench --live` measures ours: MediaPipe Tasks'
ImageSegmenter in VIDEO mode with the same landscape model, an OpenCV Gaussian blur of the whole frame and a
numpy alpha blend, on frames paced at the source's rate; CPU time of the process per delivered frame, warm-up
excluded. It runs in its own virtual environment (`make bench-peer` makes .venv-peer with mediapipe), so
mediapipe never becomes a dependency of the studio.

    .venv-peer/bin/python benchmarks/peer_recipe.py MODEL CLIP [--size 1280x720] [--fps 30] [--frames 600]

Prints one JSON line."""
from __future__ import annotations

import argparse
import json
import resource
import time

import cv2
import numpy as np

WARMUP = 60


def cpu_s() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("clip")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--frames", type=int, default=600)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))

    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions
    from mediapipe.tasks.python.vision import ImageSegmenter, ImageSegmenterOptions, RunningMode

    opts = ImageSegmenterOptions(base_options=BaseOptions(model_asset_path=a.model),
                                 running_mode=RunningMode.VIDEO, output_confidence_masks=True)
    seg = ImageSegmenter.create_from_options(opts)
    cap = cv2.VideoCapture(a.clip)
    period = 1.0 / a.fps
    t_next = time.perf_counter()
    n, mark = 0, None
    total = WARMUP + a.frames
    while n < total:
        ok, frame = cap.read()
        if not ok:
            cap = cv2.VideoCapture(a.clip)
            continue
        frame = cv2.resize(frame, (w, h))
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        result = seg.segment_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb),
                                       int(n * 1000 / a.fps))
        mask = result.confidence_masks[0].numpy_view()
        if mask.ndim == 3:
            mask = mask[..., 0]
        alpha = cv2.resize(mask, (w, h))[..., None]
        blurred = cv2.GaussianBlur(frame, (55, 55), 0)
        out = (frame * alpha + blurred * (1.0 - alpha)).astype(np.uint8)   # what the user's sink would get
        n += 1
        if n == WARMUP:
            mark = (time.perf_counter(), cpu_s())
        t_next += period
        wait = t_next - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        else:
            t_next = time.perf_counter()   # cannot hold the rate: deliver as fast as it can
    wall = time.perf_counter() - mark[0]
    cpu = cpu_s() - mark[1]
    print(json.dumps({"recipe": "mediapipe ImageSegmenter (VIDEO) + cv2.GaussianBlur + numpy blend",
                      "mediapipe": mp.__version__, "size": f"{out.shape[1]}x{out.shape[0]}", "fps_target": a.fps, "frames": a.frames,
                      "fps": round(a.frames / wall, 2), "cpu_ms_per_frame": round(cpu * 1e3 / a.frames, 2),
                      "core_percent": round(100 * cpu / wall, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
