"""`backdrop vcam`: the pipeline without a window, into a virtual camera, a video file, or YUV4MPEG2 on stdout."""
from __future__ import annotations

import collections
import os
import sys
import time

import numpy as np

from studio import StudioError, printable
from studio.platform import device_readers
from studio.settings import SCHEMA, PresetWatcher
from studio.output import (VirtualCameraSink, Y4mSink, check_device, check_not_an_input, check_video_target,
                           is_fifo, open_fifo_sink, open_video_file)
from studio.capture.background import BackgroundFeed
from studio import signals
from studio.cli.args import (FPS, MAX_FRAMES, SOURCE, TARGET, camera_mode, effect_flags, given, number,
                             settings_from_args, size)
from studio.render import VideoBackgroundRenderer, make_renderer
from studio.pipeline import LivePipeline, render_packet


def open_sink(args, w: int, h: int, fps: float):
    if args.output == "-":
        if sys.stdout is None:       # started with stdout closed (>&-)
            raise StudioError("--output -: standard output is closed")
        return Y4mSink(sys.stdout.buffer, w, h, fps)
    if args.output and is_fifo(args.output):   # YUV4MPEG2 into it once a reader opens it; a stop ends the wait
        try:
            return open_fifo_sink(args.output, w, h, fps, should_stop=signals.STOP.is_set)
        except StudioError:
            signals.check()   # stopped while waiting: the user's stop, not a fault
            raise
    if args.output:
        return open_video_file(args.output, w, h, fps)
    sink = VirtualCameraSink(w, h, fps, args.device)
    print(f"backdrop: sending to virtual camera {sink.device}", file=sys.stderr)
    return sink


def add_parser(sub):
    v = sub.add_parser("vcam", help="run the effect headless into a virtual camera, a file or a pipe")
    v.add_argument("--source", type=SOURCE, default="camera:0", help="camera:N, camera:/dev/videoN, demo, a video or an image")
    v.add_argument("--device", type=given("a device"), help="the virtual camera device (default: the first one pyvirtualcam finds)")
    v.add_argument("--size", type=size, default=(1280, 720), help="output WxH (default 1280x720)")
    v.add_argument("--camera-mode", type=camera_mode, metavar="WxH@FPS:FOURCC",
                   help="open the camera in this mode, e.g. 640x480@30:YUYV (default: the camera's mode nearest "
                        "--size and --fps; `backdrop doctor` lists them); the output is scaled and cropped to --size")
    v.add_argument("--fps", type=FPS, default=30.0, help="output frame rate, 1 to 240 (default 30)")
    v.add_argument("--frames", type=number(0, MAX_FRAMES, int), default=0,
                   help="stop after N frames (default 0: run until Ctrl+C)")
    v.add_argument("--output", type=TARGET,
                   help="a video file (.mp4 .mkv .avi .mov .m4v), a .y4m file, a FIFO (YUV4MPEG2, from when a reader "
                        "opens it) or - for YUV4MPEG2 on stdout (no virtual camera needed)")
    v.add_argument("--on-demand", action="store_true", help="release the camera while no client reads")
    v.add_argument("--no-watch", action="store_true",
                   help="do not reload --preset when the file changes (by default a saved change applies live)")
    effect_flags(v)
    return v


def run(args) -> int:
    """The live pipeline into one sink until --frames, Ctrl+C/SIGTERM/SIGHUP, or a fault.

    A recording (--output FILE) stopped by the user is kept if it holds a frame; a run that fails never
    replaces an existing file (see studio.output)."""
    s = settings_from_args(args)
    if args.output and args.output != "-" and not is_fifo(args.output):
        check_video_target(args.output)  # before the camera and the model are opened
        check_not_an_input(args.output, [args.source, s.background])
    if not args.output:
        check_device(args.device)   # a FIFO, a folder: said before the source and the model are opened
    return VcamSession(args, s).run()


class VcamSession:
    """One `vcam` run: the pipeline, the renderer on this thread, one sink, the on-demand camera release."""

    def __init__(self, args, settings):
        self.args, self.s = args, settings
        self.w, self.h = args.size
        self.fps = args.fps
        self.sink = self.ctx = self.bg = self.pipe = self.renderer = None
        self.n = self.dropped = 0
        self.lat: collections.deque = collections.deque(maxlen=9000)
        self.t_start = time.perf_counter()
        self.t_status, self.n_status = self.t_start, 0
        self.readers_checked, self.readers = 0.0, 1
        self.on_demand = False
        # the file's stamp is taken now, right after the preset was read: a save during start-up still applies
        self.watcher = (PresetWatcher(args.preset, on_error=lambda m: print(
            f"vcam: preset change not applied, the running settings stay: {printable(m)}", file=sys.stderr,
            flush=True)) if args.preset and not args.no_watch else None)
        self._auto_refine_off = False
        self.t_first_frame: float | None = None

    def run(self) -> int:
        finished = False
        try:
            rc = self._run()
            finished = True
            return rc
        finally:
            if not finished and self.sink is not None:   # a fault, or a second Ctrl+C while closing
                self.sink.abort()

    def _run(self) -> int:
        stopped_by = None
        try:
            signals.cooperative()   # signals stop the loop between two frames, not wherever they land
            self._setup()
            while not self.args.frames or self.n < self.args.frames:
                signals.check()
                if self._nobody_watching():
                    self._idle()
                elif not self._live():
                    break
        except KeyboardInterrupt as e:
            stopped_by = str(e) or "SIGINT"
        except BrokenPipeError:
            stopped_by = "the reader closing the pipe"
            _silence_stdout()
        finally:
            self._close_inputs()
        return self._finish(stopped_by)   # a failed run never gets here: run() aborts the sink

    def _setup(self) -> None:
        s = self.s
        self.bg = BackgroundFeed(s.background) if s.mode == "replace" else None
        renderer, self.ctx = make_renderer(self.args.renderer, s)
        if self.bg is not None:
            renderer.set_background(self.bg.next())
        self.renderer = VideoBackgroundRenderer(renderer, self.bg) if self.bg and self.bg.is_video else renderer
        self._base = renderer
        self._start_pipeline()
        signals.wait(self.pipe.opened)   # the source is open (or failed) before the sink exists
        if self.pipe.error is not None:
            raise self.pipe.error
        self.sink = open_sink(self.args, self.w, self.h, self.fps)
        self.on_demand = bool(self.args.on_demand) and isinstance(self.sink, VirtualCameraSink)
        if self.args.camera_mode is not None and not self.args.source.startswith("camera:"):
            print("vcam: --camera-mode applies to a camera source only; ignored", file=sys.stderr)
        if self.args.on_demand and not self.on_demand:
            print("vcam: --on-demand applies to a virtual camera only; ignored", file=sys.stderr)
        if self.watcher is not None:
            self.watcher.start()

    def _start_pipeline(self, retry_source: bool = False) -> LivePipeline:
        prepare = getattr(self._base, "prepare", None)  # the CPU twin's mask-resolution half, off this thread
        self.pipe = LivePipeline(self.args.source, tier=self.s.tier, size=(self.w, self.h), fps=self.fps,
                                 mirror=self.s.mirror, prepare=prepare, retry_source=retry_source,
                                 on_event=self._on_event, camera_mode=self.args.camera_mode,
                                 second_look=self.s.second_look,
                                 segment_on_change=self.s.segment_on_change)
        return self.pipe.start()   # self.pipe first: an interrupt right after start() still stops it

    def _on_event(self, kind: str, value) -> None:
        if kind == "source_warning":
            print(f"vcam: warning: {value}; playing the frames that decode", file=sys.stderr, flush=True)
        if kind == "tier" and not isinstance(value, str) and not value.refine:
            self._auto_refine_off = True  # Auto found the machine tight: as bench and the window do
            if self.s.refine:
                self.s = self.s.with_(refine=False)
                self._base.settings = self.s

    def _reload(self, preset) -> None:
        """A changed preset, between two frames: new settings for the renderer, a new tier for the segmenter
        only if it changed, never a new camera. A background that cannot be read keeps everything as it was."""
        new = settings_from_args(self.args, base=preset)
        if self._auto_refine_off and new.tier == "auto":
            new = new.with_(refine=False)
        if new.tier != self.s.tier and new.tier != "auto":
            from studio.segment import models

            try:
                models.load_model_bytes(new.tier)   # a missing model would end the run and its recording
            except StudioError as e:
                print(f"vcam: preset change not applied, the running settings stay: {printable(e)}",
                      file=sys.stderr, flush=True)
                return
        bg = self.bg
        if new.mode == "replace" and (bg is None or new.background != self.s.background):
            try:
                bg = BackgroundFeed(new.background)
            except StudioError as e:
                print(f"vcam: preset change not applied, the running settings stay: {printable(e)}",
                      file=sys.stderr, flush=True)
                return
            self._base.set_background(bg.next())
            if self.bg is not None:
                self.bg.close()
            self.bg = bg
        self.renderer = VideoBackgroundRenderer(self._base, bg) if bg is not None and bg.is_video else self._base
        old, self.s = self.s, new   # first: Auto's choice arriving from now on applies to the new settings
        self._base.settings = new
        if self.pipe is not None:
            if new.tier != old.tier:
                self.pipe.set_tier(new.tier)
            self.pipe.mirror = new.mirror
            self.pipe.second_look = new.second_look
            self.pipe.segment_on_change = new.segment_on_change
        changed = [k for k in SCHEMA if getattr(new, k) != getattr(old, k)]
        print(f"vcam: preset reloaded ({', '.join(changed) or 'no change'})", file=sys.stderr, flush=True)

    def _live(self) -> bool:
        """Render packets until --frames, nobody watching, or the pipeline ends; False when it has ended."""
        if self.pipe is None:
            self._base.reset()   # before the segmentation thread can prepare() with the old state
            self.pipe = self._start_pipeline(retry_source=True)   # the camera may be busy for a moment
            print("vcam: client connected, camera reopened", file=sys.stderr, flush=True)
            self._restart_rate(time.perf_counter())
        while not self.args.frames or self.n < self.args.frames:
            signals.check()
            if self.watcher is not None and (preset := self.watcher.take()) is not None:
                self._reload(preset)
            p = self.pipe.get(timeout=0.5)
            if p is None:
                if not self.pipe.running:
                    return False
            else:
                self._send(p, render_packet(self.renderer, p, (self.w, self.h)))
            if self._nobody_watching():
                return True
        return True

    def _send(self, p, out) -> None:
        self.sink.send(out)
        now = time.perf_counter()
        self.lat.append(p.timings["latency"])
        self.n += 1
        if self.t_first_frame is None:   # counted from the first frame sent, not from the model loading
            self.t_first_frame = now
            self._restart_rate(now)
        if now - self.t_status >= 3.0:   # the rate since the last line: idle spells (--on-demand) do not linger
            print(f"vcam: {(self.n - self.n_status) / (now - self.t_status):.1f} fps, latency p95 "
                  f"{np.percentile(list(self.lat)[-300:], 95):.1f} ms, dropped {self._dropped()}",
                  file=sys.stderr, flush=True)
            self._restart_rate(now)

    def _restart_rate(self, now: float) -> None:
        """The status line's rate counts from here: the first frame, the last line, a client's return."""
        self.t_status, self.n_status = now, self.n

    def _dropped(self) -> int:
        return self.dropped + (self.pipe.dropped if self.pipe is not None else 0)

    def _nobody_watching(self) -> bool:
        if not self.on_demand:
            return False
        now = time.perf_counter()
        if now - self.readers_checked > 1.0:
            self.readers = device_readers(self.sink.device)
            self.readers_checked = now
        return self.readers == 0

    def _idle(self) -> None:
        """Nobody is watching: release the camera and send a still frame now and then (near zero CPU)."""
        if self.pipe is not None:
            self.dropped += self.pipe.dropped
            self.pipe.stop()
            self.pipe = None
            print("vcam: no client, camera released", file=sys.stderr, flush=True)
        self.sink.send(np.zeros((self.h, self.w, 3), np.uint8))
        signals.STOP.wait(0.5)

    def _close_inputs(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        if self.pipe is not None:
            self.dropped += self.pipe.dropped
            self.pipe.stop()
            self.pipe = None
        for thing in (self.bg, self.ctx):
            if thing is not None:
                thing.close()

    def _finish(self, stopped_by: str | None) -> int:
        args, sink = self.args, self.sink
        target = printable(args.output, 120) if args.output and args.output != "-" and not is_fifo(args.output) else ""
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
        el = time.perf_counter() - (self.t_first_frame or self.t_start)
        a = np.asarray(self.lat) if self.lat else np.zeros(1)
        print(f"vcam: {self.n} frames, {max(0, self.n - 1) / max(el, 1e-6):.1f} fps, latency p50 {np.median(a):.1f} ms, "
              f"p95 {np.percentile(a, 95):.1f} ms, dropped {self.dropped}"
              + (f", stopped by {stopped_by}" if stopped_by else "") + (f", wrote {target}" if target else ""),
              file=sys.stderr)
        return 0


def _silence_stdout() -> None:
    """The reader of stdout is gone: point stdout at /dev/null so the exit flush does not complain."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError:
        pass
