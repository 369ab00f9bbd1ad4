"""`backdrop bench`: the headless pipeline on frames decoded into memory first."""
from __future__ import annotations

import json
import threading
import time

import numpy as np

from studio import StudioError
from studio.metrics import summarize
from studio.cli.args import FPS, MAX_FRAMES, RENDERER_HELP, RENDERERS, SOURCE, THREADS, number, size
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
    tier = args.tier or "full"
    reason = ""
    refine = args.refine
    look = args.second_look
    if tier == "auto":
        c = choose_tier(fps, (w, h), threads=args.threads)
        tier, reason, refine, look = c.tier, c.reason, c.refine and refine, look and c.second_look
    settings = EffectSettings(mode=args.mode, tier=tier, refine=refine)
    seg = Segmenter(tier, threads=args.threads, second_look=look)
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


WARMUP_FRAMES = 60


def _thread_cpu_s(t) -> float:
    """CPU seconds a thread has used so far (Linux: its own CPU clock); 0 where that cannot be read."""
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(t.ident))
    except (AttributeError, OSError, TypeError):
        return 0.0


def _process_cpu_s() -> float:
    import resource

    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def run_live_bench(args) -> dict:
    """The live pipeline paced at the source's rate into a sink that converts frames to I420 at `--size`, as the
    frame sinks do, and drops them (or writes YUV4MPEG2 to /dev/null): CPU time per delivered frame, the cost a
    user pays at the camera's rate. Warm-up frames are excluded; the split is by thread (capture: decode, fit;
    segment: the saver, model, refinement; render: the effect; output: the sink, timed on the render thread;
    other: library worker threads)."""
    import os

    from studio.output import NullSink, Y4mSink
    from studio.pipeline import LivePipeline, render_packet

    size = parse_size(args.size) or (1280, 720)
    fps = args.fps
    tier = args.tier or "auto"   # the window's and vcam's default tier (their second look needs --second-look)
    settings = EffectSettings(mode=args.mode, tier=tier, refine=args.refine)
    renderer, ctx = make_renderer(args.renderer, settings)

    def on_event(kind, value):   # Auto's "refinement off" applies here as in the window and vcam
        if kind == "tier" and not isinstance(value, str) and not value.refine:
            renderer.settings = renderer.settings.with_(refine=False)

    pipe = LivePipeline(args.source, tier=tier, size=size, fps=fps, on_event=on_event,
                        prepare=getattr(renderer, "prepare", None), second_look=args.second_look,
                        segment_on_change=args.segment_on_change).start()
    sink = Y4mSink(open(os.devnull, "wb"), *size, fps, owns_stream=True) if args.sink == "y4m" else NullSink(*size)
    total = WARMUP_FRAMES + args.frames
    n, marks, segmented, output_s = 0, None, 0, 0.0
    try:
        while n < total:
            p = pipe.get(timeout=5)
            if p is None:
                raise StudioError("the live pipeline delivered no frame for 5 s")
            out = render_packet(renderer, p, size)
            t0 = time.thread_time()
            sink.send(out)
            n += 1
            if n > WARMUP_FRAMES:
                output_s += time.thread_time() - t0
            segmented += n > WARMUP_FRAMES and "inference" in p.timings
            if n == WARMUP_FRAMES:   # drops too: those while Auto measured the tiers on a cold cache are not the run's
                marks = (time.perf_counter(), _process_cpu_s(), {t.name: _thread_cpu_s(t) for t in pipe._threads},
                         _thread_cpu_s(threading.current_thread()), pipe.dropped)
        wall = time.perf_counter() - marks[0]
        cpu = _process_cpu_s() - marks[1]
        split = {t.name: _thread_cpu_s(t) - marks[2][t.name] for t in pipe._threads}
        split["render"] = _thread_cpu_s(threading.current_thread()) - marks[3] - output_s
        split["output"] = output_s   # the sink's share of the render thread: conversion, scaling, writing
    finally:
        dropped = pipe.dropped - (marks[4] if marks is not None else 0)
        pipe.stop()
        sink.close()
        if ctx is not None:
            ctx.close()
    split["other"] = max(0.0, cpu - sum(split.values()))
    per = 1e3 / args.frames
    return {"source": args.source, "size": f"{size[0]}x{size[1]}", "fps_target": fps, "frames": args.frames,
            "mode": args.mode, "tier": pipe.tier_used, "tier_setting": tier, "renderer": renderer.name,
            "sink": args.sink,
            "fps": round(args.frames / wall, 2), "dropped": dropped,
            "second_look": args.second_look, "segment_on_change": args.segment_on_change,
            "segmented_percent": round(100.0 * segmented / args.frames, 1),
            "cpu_ms_per_frame": round(cpu * per, 2), "core_percent": round(100 * cpu / wall, 1),
            "cpu_ms_per_frame_by_thread": {k: round(v * per, 2) for k, v in split.items()}}


def add_parser(sub):
    b = sub.add_parser("bench", help="per-stage timings of the headless pipeline")
    b.add_argument("--source", type=SOURCE, default="demo", help="demo, a video file or an image (decoded into memory first)")
    b.add_argument("--size", type=size, default=None, help="WxH (default: the source's size, 1280x720 for demo)")
    b.add_argument("--frames", type=number(1, MAX_FRAMES, int), default=300, help="frames to time")
    b.add_argument("--tier", choices=TIERS,
                   help="model tier (default full; with --live auto, the window's and vcam's default)")
    b.add_argument("--threads", type=THREADS, default=1, help="LiteRT threads (1 to the number of cores)")
    b.add_argument("--mode", default="blur", choices=MODES, help="effect (default blur)")
    b.add_argument("--second-look", action="store_true",
                   help="also time the second look at small people (one more inference on a crop)")
    b.add_argument("--every-frame", dest="segment_on_change", action="store_false", default=True,
                   help="with --live: segment every frame (by default a still frame reuses the last mask and the "
                        "frame after a segmented one may carry it by motion)")
    b.add_argument("--renderer", default="cpu", choices=RENDERERS, help=RENDERER_HELP + " (default cpu)")
    b.add_argument("--no-refine", dest="refine", action="store_false", default=True,
                   help="skip the joint bilateral refinement")
    b.add_argument("--pipeline", choices=["serial", "overlap"], default="overlap",
                   help="overlap inference and rendering on two threads (default) or run them in series")
    b.add_argument("--live", action="store_true",
                   help="run the live pipeline paced at --fps and report CPU ms per delivered frame (warm-up "
                        f"of {WARMUP_FRAMES} frames excluded) instead of throughput")
    b.add_argument("--fps", type=FPS, default=30.0, help="with --live: the source's pace (default 30)")
    b.add_argument("--sink", choices=["null", "y4m"], default="null",
                   help="with --live: convert frames to I420 at --size as the frame sinks do and drop them (null), "
                        "or write YUV4MPEG2 to /dev/null (y4m)")
    b.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    return b


def run(args) -> int:
    if args.live:
        return _run_live(args)
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


def _run_live(args) -> int:
    res = run_live_bench(args)
    split = ", ".join(f"{k} {v:.2f}" for k, v in res["cpu_ms_per_frame_by_thread"].items())
    auto = " (auto)" if res["tier_setting"] == "auto" else ""
    print(f"live {res['source']} {res['size']} at {res['fps_target']:g} fps, {res['mode']}, tier {res['tier']}{auto}, "
          f"renderer {res['renderer']}, sink {res['sink']}: {res['frames']} frames at {res['fps']:.1f} fps, "
          f"dropped {res['dropped']}")
    print(f"  CPU {res['cpu_ms_per_frame']:.2f} ms per frame ({res['core_percent']:.1f} % of one core): {split}")
    print(f"  segmented {res['segmented_percent']:g} % of the frames (segment on change: "
          f"{'on' if res['segment_on_change'] else 'off'}; second look: {'on' if res['second_look'] else 'off'})")
    if args.json:
        print(json.dumps(res))
    return 0
