"""`backdrop bench`: the headless pipeline on frames decoded into memory first."""
from __future__ import annotations

import json
import time

import numpy as np

from studio import StudioError
from studio.metrics import summarize
from studio.cli.args import MAX_FRAMES, RENDERER_HELP, RENDERERS, THREADS, number, size
from studio.pipeline import run_frames
from studio.segment.segmenter import Segmenter
from studio.segment.tiers import choose_tier
from studio.settings import MODES, TIERS, EffectSettings
from studio.capture.sources import open_source, parse_size
from studio.render import make_renderer


MAX_DECODED_BYTES = 4 << 30   # bench decodes every frame into memory first


def decode_frames(source: str, size, n: int) -> tuple[list[np.ndarray], float, float]:
    src = open_source(source, size=size, loop=True)
    w, h = src.size
    if n * w * h * 3 > MAX_DECODED_BYTES:
        src.close()
        raise StudioError(f"{n} frames of {w}x{h} would take {n * w * h * 3 >> 30} GB in memory; bench decodes "
                          f"into memory first: use at most {MAX_DECODED_BYTES // (w * h * 3)} frames")
    t0 = time.perf_counter()
    try:
        frames = [np.ascontiguousarray(src.read()) for _ in range(n)]
    finally:
        src.close()
    return frames, (time.perf_counter() - t0) * 1e3 / max(1, n), src.fps


def run_bench(args) -> dict:
    size = parse_size(args.size)
    frames, decode_ms, fps = decode_frames(args.source, size, args.frames)
    h, w = frames[0].shape[:2]
    tier = args.tier
    reason = ""
    refine = args.refine
    if tier == "auto":
        c = choose_tier(fps, (w, h), threads=args.threads)
        tier, reason, refine = c.tier, c.reason, c.refine and refine
    settings = EffectSettings(mode=args.mode, tier=tier, refine=refine)
    seg = Segmenter(tier, threads=args.threads)
    renderer, ctx = make_renderer(args.renderer, settings)
    warm = frames[: min(10, len(frames))]
    run_frames(warm, seg, renderer, lambda p, o: None, overlap=False)
    renderer.reset()
    stages: dict[str, list[float]] = {}
    outs = [0]

    def on_output(p, out):
        for k, v in p.timings.items():
            stages.setdefault(k, []).append(v)
        outs[0] += 1

    t0 = time.perf_counter()
    run_frames(frames, seg, renderer, on_output, overlap=args.pipeline == "overlap")
    wall = time.perf_counter() - t0
    if ctx is not None:
        ctx.close()
    order = ["resize", "inference", "refine", "composite", "latency"]
    res = {
        "source": args.source, "size": f"{w}x{h}", "frames": outs[0], "tier": tier, "mode": args.mode,
        "renderer": renderer.name, "threads": args.threads, "pipeline": args.pipeline, "refine": refine,
        "fps": round(outs[0] / wall, 2), "decode_ms_per_frame": round(decode_ms, 3),
        "stages": {k: summarize(stages[k]) for k in order if k in stages},
    }
    if reason:
        res["tier_reason"] = reason
    return res


def add_parser(sub):
    b = sub.add_parser("bench", help="per-stage timings of the headless pipeline")
    b.add_argument("--source", default="demo", help="demo, a video file or an image (decoded into memory first)")
    b.add_argument("--size", type=size, default=None, help="WxH (default: the source's size, 1280x720 for demo)")
    b.add_argument("--frames", type=number(1, MAX_FRAMES, int), default=300, help="frames to time")
    b.add_argument("--tier", default="full", choices=TIERS, help="model tier (default full)")
    b.add_argument("--threads", type=THREADS, default=1, help="LiteRT threads (1 to the number of cores)")
    b.add_argument("--mode", default="blur", choices=MODES, help="effect (default blur)")
    b.add_argument("--renderer", default="cpu", choices=RENDERERS, help=RENDERER_HELP + " (default cpu)")
    b.add_argument("--no-refine", dest="refine", action="store_false", default=True,
                   help="skip the joint bilateral refinement")
    b.add_argument("--pipeline", choices=["serial", "overlap"], default="overlap",
                   help="overlap inference and rendering on two threads (default) or run them in series")
    b.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    return b


def run(args) -> int:
    res = run_bench(args)
    print(f"source {res['source']} {res['size']}  tier {res['tier']}  mode {res['mode']}  "
          f"renderer {res['renderer']}  frames {res['frames']}")
    for name, st in res["stages"].items():
        print(f"  {name:12} median {st['median']:7.3f} ms   p95 {st['p95']:7.3f} ms")
    print(f"  throughput {res['fps']:.1f} fps")
    if res.get("tier_reason"):
        print(f"  auto tier: {res['tier']} ({res['tier_reason']})")
    if args.json:
        print(json.dumps(res))
    return 0
