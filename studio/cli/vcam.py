"""`backdrop vcam`: the pipeline without a window, into a virtual camera, a video file, or YUV4MPEG2 on stdout."""
from __future__ import annotations

import collections
import sys
import time

import cv2
import numpy as np

from studio import printable
from studio.platform import device_readers
from studio.output import VirtualCameraSink, Y4mSink, check_video_target, open_video_file
from studio.capture.background import BackgroundFeed
from studio.cli.args import FPS, MAX_FRAMES, effect_flags, number, settings_from_args, size
from studio.render import VideoBackgroundRenderer, make_renderer
from studio.pipeline import run_live
from studio.segment.segmenter import Segmenter
from studio.segment.tiers import choose_tier
from studio.capture.sources import open_source, parse_size


def open_sink(args, w: int, h: int, fps: float):
    if args.output == "-":
        return Y4mSink(sys.stdout.buffer, w, h, fps)
    if args.output:
        return open_video_file(args.output, w, h, fps)
    sink = VirtualCameraSink(w, h, fps, args.device)
    print(f"backdrop: sending to virtual camera {sink.device}", file=sys.stderr)
    return sink


def add_parser(sub):
    v = sub.add_parser("vcam", help="run the effect headless into a virtual camera, a file or a pipe")
    v.add_argument("--source", default="camera:0", help="camera:N, camera:/dev/videoN, demo, a video or an image")
    v.add_argument("--device", help="the virtual camera device (default: the first one pyvirtualcam finds)")
    v.add_argument("--size", type=size, default=(1280, 720), help="output WxH (default 1280x720)")
    v.add_argument("--fps", type=FPS, default=30.0, help="output frame rate, 1 to 240 (default 30)")
    v.add_argument("--frames", type=number(0, MAX_FRAMES, int), default=0,
                   help="stop after N frames (default 0: run until Ctrl+C)")
    v.add_argument("--output", help="a video file (.mp4 .mkv .avi .mov .m4v), a .y4m file, or - for YUV4MPEG2 "
                                    "on stdout (no virtual camera needed)")
    v.add_argument("--on-demand", action="store_true", help="release the camera while no client reads")
    effect_flags(v)
    return v


def run(args) -> int:
    """The live pipeline into one sink until --frames, Ctrl+C/SIGTERM/SIGHUP, or a fault.

    A recording (--output FILE) stopped by the user is kept if it holds a frame; a run that fails never
    replaces an existing file (see studio.output)."""
    s = settings_from_args(args)
    if args.output and args.output != "-":
        check_video_target(args.output)  # before the camera and the model are opened
    size = parse_size(args.size)
    src = sink = ctx = bg = None
    state = {"n": 0, "dropped": 0, "t_status": time.perf_counter(), "readers_checked": 0.0, "readers": 1}
    lat: collections.deque = collections.deque(maxlen=9000)
    t_start = time.perf_counter()
    stopped_by = None
    try:
        bg = BackgroundFeed(s.background) if s.mode == "replace" else None
        src = open_source(args.source, size=size, fps=args.fps, loop=True, realtime=True)
        w, h = size or src.size
        fps = args.fps or src.fps or 30.0
        tier, refine = s.tier, s.refine
        if tier == "auto":
            c = choose_tier(fps, (w, h))
            tier, refine = c.tier, s.refine and c.refine
            s = s.with_(refine=refine)
        seg = Segmenter(tier)
        renderer, ctx = make_renderer(args.renderer, s)
        if bg is not None:
            renderer.set_background(bg.next())
        sink = open_sink(args, w, h, fps)
        on_demand = bool(args.on_demand) and isinstance(sink, VirtualCameraSink)
        if args.on_demand and not on_demand:
            print("vcam: --on-demand applies to a virtual camera only; ignored", file=sys.stderr)
        idle_frame = np.zeros((h, w, 3), np.uint8)
        live_renderer = VideoBackgroundRenderer(renderer, bg) if bg is not None and bg.is_video else renderer

        def nobody_watching() -> bool:
            if not on_demand:
                return False
            now = time.perf_counter()
            if now - state["readers_checked"] > 1.0:
                state["readers"] = device_readers(sink.device)
                state["readers_checked"] = now
            return state["readers"] == 0

        def on_output(p, out):
            sink.send(out)
            lat.append(p.timings["latency"])
            state["n"] += 1
            now = time.perf_counter()
            if now - state["t_status"] >= 3.0:
                print(f"vcam: {state['n'] / (now - t_start):.1f} fps, latency p95 "
                      f"{np.percentile(list(lat)[-300:], 95):.1f} ms, dropped {state['dropped']}",
                      file=sys.stderr, flush=True)
                state["t_status"] = now

        while not args.frames or state["n"] < args.frames:
            if nobody_watching():
                if src is not None:  # nobody is watching: release the camera
                    src.close()
                    src = None
                    print("vcam: no client, camera released", file=sys.stderr, flush=True)
                sink.send(idle_frame)
                time.sleep(0.5)
                continue
            if src is None:
                src = open_source(args.source, size=size, fps=args.fps, loop=True, realtime=True)
                renderer.reset()
                print("vcam: client connected, camera reopened", file=sys.stderr, flush=True)
            res = run_live(PacedFeed(src, (w, h), fps, s.mirror), seg, live_renderer, on_output,
                           should_stop=nobody_watching,
                           max_frames=(args.frames - state["n"]) if args.frames else 0)
            state["dropped"] += res["dropped"]
            if res["frames"] == 0 and not nobody_watching():
                break
    except KeyboardInterrupt as e:
        stopped_by = str(e) or "SIGINT"
    except BrokenPipeError:
        stopped_by = "the reader closing the pipe"
        _silence_stdout()
    except BaseException:
        if sink is not None:
            sink.abort()  # a failed run never replaces anything
        raise
    finally:
        for thing in (src, bg, ctx):
            if thing is not None:
                thing.close()
    target = f"{printable(args.output, 120)}" if args.output and args.output != "-" else ""
    if sink is None or sink.frames == 0:
        if sink is not None:
            sink.abort()
        print(f"vcam: stopped by {stopped_by or 'the source ending'} before the first frame"
              + (f"; {target} left unchanged" if target else ""), file=sys.stderr)
        return 0
    try:
        sink.close()
    except BrokenPipeError:
        _silence_stdout()
    n = state["n"]
    el = time.perf_counter() - t_start
    a = np.asarray(lat) if lat else np.zeros(1)
    print(f"vcam: {n} frames, {n / el:.1f} fps, latency p50 {np.median(a):.1f} ms, "
          f"p95 {np.percentile(a, 95):.1f} ms, dropped {state['dropped']}"
          + (f", stopped by {stopped_by}" if stopped_by else "") + (f", wrote {target}" if target else ""),
          file=sys.stderr)
    return 0


def _silence_stdout() -> None:
    """The reader of stdout is gone: point stdout at /dev/null so the exit flush does not complain."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError:
        pass


class PacedFeed:
    """A source as the live pipeline sees it: files and stills paced to the frame rate like a camera, fitted to
    the output size, mirrored when asked."""

    def __init__(self, src, size: tuple[int, int], fps: float, mirror: bool):
        self.src, self.size, self.fps, self.mirror = src, size, fps, mirror
        self.next_due = None

    def read(self):
        if not self.src.live:
            now = time.perf_counter()
            self.next_due = max(now, self.next_due or now)
            if self.next_due > now:
                time.sleep(self.next_due - now)
            self.next_due += 1.0 / self.fps
        frame = self.src.read()
        w, h = self.size
        if frame.shape[1] != w or frame.shape[0] != h:
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        return cv2.flip(frame, 1) if self.mirror else frame
