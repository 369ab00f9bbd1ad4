"""`backdrop vcam`: the pipeline without a window, into a virtual camera, a video file, or YUV4MPEG2 on stdout."""
from __future__ import annotations

import sys
import time

import cv2
import numpy as np

from studio import StudioError
from studio.render_cmd import BackgroundFeed, FileSink, VideoBackgroundRenderer, settings_from_args
from studio.pipeline import run_live
from studio.segmenter import Segmenter, choose_tier
from studio.sources import open_source, parse_size

VCAM_HINT = ("no virtual camera backend found: on Linux install and load v4l2loopback "
             "(sudo apt install v4l2loopback-dkms && sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
             "card_label=Backdrop); on Windows/macOS install OBS Studio and start its virtual camera once; "
             "or use --output PATH / --output -")


def device_readers(path: str) -> int:
    """How many other processes hold `path` open (Linux /proc); v4l2loopback clients show up this way."""
    import os

    try:
        target = os.path.realpath(path)
    except OSError:
        return 0
    me = str(os.getpid())
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or pid == me:
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(f"{fd_dir}/{fd}") == target:
                        n += 1
                        break
                except OSError:
                    continue
        except OSError:
            continue
    return n


class Y4mSink:
    """YUV4MPEG2 (4:2:0) to a binary stream: any client (ffmpeg, a player) can read it."""

    def __init__(self, stream, w: int, h: int, fps: float):
        if w % 2 or h % 2:
            raise StudioError("YUV4MPEG2 4:2:0 needs an even width and height")
        self.stream = stream
        num, den = (int(round(fps * 1000)), 1000) if fps != int(fps) else (int(fps), 1)
        stream.write(f"YUV4MPEG2 W{w} H{h} F{num}:{den} Ip A1:1 C420jpeg\n".encode())

    def send(self, frame_bgr: np.ndarray) -> None:
        self.stream.write(b"FRAME\n")
        self.stream.write(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2YUV_I420).tobytes())

    def close(self) -> None:
        self.stream.flush()


class VirtualCameraSink:
    """pyvirtualcam: v4l2loopback on Linux, the OBS virtual camera elsewhere; frames in the backend's format."""

    def __init__(self, w: int, h: int, fps: float, device: str | None):
        try:
            import pyvirtualcam
        except ImportError:
            raise StudioError("pyvirtualcam is not installed: pip install pyvirtualcam") from None
        try:
            self.cam = pyvirtualcam.Camera(width=w, height=h, fps=fps, device=device,
                                           fmt=pyvirtualcam.PixelFormat.BGR)
        except Exception as e:  # the library raises RuntimeError with the backend's reason
            raise StudioError(f"{VCAM_HINT} ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        self.device = self.cam.device

    def send(self, frame_bgr):
        self.cam.send(frame_bgr)
        self.cam.sleep_until_next_frame()

    def close(self):
        self.cam.close()


def run_vcam(args) -> int:
    from studio.bench import make_renderer

    s = settings_from_args(args)
    size = parse_size(args.size)
    bg = BackgroundFeed(s.background) if s.mode == "replace" else None
    src = open_source(args.source, size=size, fps=args.fps, loop=True, realtime=True)
    w, h = size or src.size
    fps = args.fps or src.fps or 30.0
    tier = s.tier if s.tier != "auto" else choose_tier(fps, (w, h)).tier
    seg = Segmenter(tier)
    renderer, ctx = make_renderer(args.renderer, s)
    if bg is not None:
        renderer.set_background(bg.next())
    if args.output == "-":
        sink = Y4mSink(sys.stdout.buffer, w, h, fps)
    elif args.output:
        sink = FileSink(args.output, w, h, fps)
    else:
        sink = VirtualCameraSink(w, h, fps, args.device)
        print(f"backdrop: sending to virtual camera {sink.device}", file=sys.stderr)
    lat: list[float] = []
    state = {"n": 0, "dropped": 0, "t_status": time.perf_counter(), "readers_checked": 0.0, "readers": 1}
    on_demand = bool(getattr(args, "on_demand", False)) and isinstance(sink, VirtualCameraSink)
    if getattr(args, "on_demand", False) and not on_demand:
        print("vcam: --on-demand applies to a virtual camera only; ignored", file=sys.stderr)
    idle_frame = np.zeros((h, w, 3), np.uint8)
    live_renderer = VideoBackgroundRenderer(renderer, bg) if bg is not None and bg.is_video else renderer
    t_start = time.perf_counter()

    class Feed:
        """The source as the pipeline sees it: paced when it is a file, fitted to the output size, mirrored."""

        def __init__(self, src):
            self.src = src
            self.next_due = None

        def read(self):
            if not self.src.live:  # files and stills play at their frame rate, like a camera
                now = time.perf_counter()
                self.next_due = max(now, self.next_due or now)
                if self.next_due > now:
                    time.sleep(self.next_due - now)
                self.next_due += 1.0 / fps
            frame = self.src.read()
            if frame.shape[1] != w or frame.shape[0] != h:
                frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
            return cv2.flip(frame, 1) if s.mirror else frame

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
            print(f"vcam: {state['n'] / (now - t_start):.1f} fps, latency p95 {np.percentile(lat[-300:], 95):.1f} ms,"
                  f" dropped {state['dropped']}", file=sys.stderr, flush=True)
            state["t_status"] = now

    try:
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
            res = run_live(Feed(src), seg, live_renderer, on_output, should_stop=nobody_watching,
                           max_frames=(args.frames - state["n"]) if args.frames else 0)
            state["dropped"] += res["dropped"]
            if res["frames"] == 0 and not nobody_watching():
                break
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        pass
    finally:
        try:
            sink.close()
        except (BrokenPipeError, OSError):
            pass
        if src is not None:
            src.close()
        if bg is not None:
            bg.close()
        if ctx is not None:
            ctx.close()
    n = state["n"]
    el = time.perf_counter() - t_start
    if lat:
        print(f"vcam: {n} frames, {n / el:.1f} fps, latency p50 {np.median(lat):.1f} ms, "
              f"p95 {np.percentile(lat, 95):.1f} ms, dropped {state['dropped']}", file=sys.stderr)
    return 0
