"""The pipeline: source -> segmenter -> renderer -> sink, the same stages two ways.

run_frames: files (render, bench, eval): every frame, in order; segmentation (with the renderer's mask-resolution
half) on one thread, rendering on the caller's, handed over through a single slot that waits until it is free.
LivePipeline: live sources (the window, vcam): the capture slot is overwritten, the newest frame wins and stale
ones are dropped and counted. LiteRT and OpenCV release the GIL, so the stages run on two cores."""
from __future__ import annotations

import atexit
import threading
import time
import weakref
from dataclasses import dataclass, field

import numpy as np

from studio.handoff import LatestSlot
from studio.segment.segmenter import Segmenter


@dataclass
class Packet:
    index: int
    frame: np.ndarray
    t_in: float                      # perf_counter when the frame was in hand: end-to-end latency starts here
    mask: np.ndarray | None = None
    timings: dict = field(default_factory=dict)
    prepared: tuple | None = None    # the renderer's mask-resolution half, done on the segmentation thread
    tier: str = ""
    background: np.ndarray | None = None  # this frame's background, when it is a video
    still: bool = False              # the picture did not change since the last segmented frame (mask reused)
    picture: int = 0                 # with segment-on-change: which segmented picture this frame is (0: none)


def _segment(seg: Segmenter, prepare, p: Packet) -> Packet:
    """Segmentation-thread half: the mask, and with `prepare` the renderer's mask-resolution half too."""
    r = seg(p.frame)
    p.mask = r.mask.copy()
    p.timings.update(r.timings)
    if prepare is not None:
        p.prepared = prepare(p.frame, p.mask)
    return p


def render_packet(renderer, p: Packet, size: tuple[int, int] | None = None):
    """The rendering half on the consumer's thread; fills the refine, composite and end-to-end latency timings.
    A packet whose mask-resolution half was prepared on the segmentation thread skips it here. size: the
    output's (LivePipeline.size): a frame smaller than it is drawn as it will look once the sink scales it up."""
    split = p.prepared is not None
    kw = {"picture": p.picture} if getattr(renderer, "reuses_still", False) else {}
    if size is not None:
        kw["size"] = size
    t0 = time.perf_counter()
    out = (renderer.render(p.frame, p.mask, prepared=p.prepared, **kw) if split
           else renderer.render(p.frame, p.mask, **kw))
    total = (time.perf_counter() - t0) * 1e3
    for k, v in getattr(renderer, "timings", {}).items():
        if k != "render":
            p.timings[k] = v
    p.timings["composite"] = total - (0.0 if split else p.timings.get("refine", 0.0))
    p.timings["latency"] = (time.perf_counter() - p.t_in) * 1e3
    return out


def run_frames(frames, seg: Segmenter, renderer, on_output, overlap: bool = True) -> None:
    """Process an in-order iterable of frames; on_output(packet, out_image) is called in order on this thread.

    Overlapped, the segmentation thread also does the renderer's mask-resolution half (prepare: temporal
    smoothing and refinement) when the renderer has one, so the two threads carry similar loads."""
    split = overlap and hasattr(renderer, "prepare")

    prepare = renderer.prepare if split else None

    def segment(p: Packet) -> Packet:
        return _segment(seg, prepare, p)

    def render(p: Packet):
        on_output(p, render_packet(renderer, p))

    if not overlap:
        for i, f in enumerate(frames):
            render(segment(Packet(i, f, time.perf_counter())))
        return

    handoff = LatestSlot()
    errors: list[BaseException] = []

    def worker():
        try:
            for i, f in enumerate(frames):
                if not handoff.put_wait(segment(Packet(i, f, time.perf_counter()))):
                    return
        except BaseException as e:  # surfaced on the calling thread
            errors.append(e)
        finally:
            handoff.close()

    t = threading.Thread(target=worker, name="segment", daemon=True)
    t.start()
    try:
        while True:
            p = handoff.get()
            if p is None:
                break
            render(p)
    finally:  # on_output may raise: the worker still ends, it does not wait on a full hand-off
        handoff.close()
        t.join()
    if errors:
        raise errors[0]


_RUNNING: "weakref.WeakSet[LivePipeline]" = weakref.WeakSet()


@atexit.register
def _stop_running_pipelines() -> None:
    """A safety net: a pipeline whose owner was interrupted before it could stop it must not leave its threads
    inside LiteRT or FFmpeg while the interpreter exits (C++ aborts: "terminate called without an active
    exception")."""
    for pipe in list(_RUNNING):
        pipe.stop()


class LivePipeline:
    """The one live pipeline, for the window and `vcam`:

        capture ──(newest frame wins)──▶ segment ──(packet slot)──▶ the consumer's render

    The capture thread opens the source (pacing those without a clock, fitting frames to `size` without
    scaling a smaller one up, mirroring),
    and reads a video background one frame per captured frame. The segmentation thread resolves tier "auto"
    from the source's real size and rate (off the GUI thread), runs the model and, if given, the renderer's
    mask-resolution half (`prepare`). The consumer takes packets with get() (newest wins when `drop_stale`,
    else the segmenter waits for it). `on_event(kind, value)` reports, from the worker threads:
    "source_ok" (name), "source_error" (message), "source_warning" (message: it still delivers, e.g. a file cut
    short plays what decodes), "model_error" (message), "tier" (TierChoice or tier name), "background_error"
    (message); `on_packet()` says a packet is ready (a GUI adapter coalesces it).

    A source that fails is reopened every second when `retry_source`; otherwise the pipeline ends and get()
    raises its error. stop() (any thread but the workers) ends both threads through conditions; nothing polls."""

    def __init__(self, spec: str, *, tier: str = "full", size: tuple[int, int] | None = None,
                 fps: float | None = None, mirror: bool = False, prepare=None, retry_source: bool = False,
                 drop_stale: bool = False, wait_on_model_error: bool = False, on_event=None, on_packet=None,
                 camera_mode=None, second_look: bool = False, segment_on_change: bool = False):
        self.spec, self.size, self.fps_wanted, self.mirror = spec, size, fps, mirror
        self.camera_mode = camera_mode     # a CameraMode for a camera source; None lets the camera's list decide
        self.second_look = second_look     # the setting; Auto may still leave it off where it does not fit
        self.segment_on_change = segment_on_change   # still: reuse the mask; else maybe carry it (segment.reuse)
        self._look_allowed = True
        self.prepare = prepare
        self.retry_source = retry_source
        self.wait_on_model_error = wait_on_model_error   # the window: wait for another tier; vcam: end
        self.on_event = on_event or (lambda kind, value: None)
        self.on_packet = on_packet or (lambda: None)
        self.frames_in = LatestSlot()
        self.packets = LatestSlot()
        self._drop_stale = drop_stale
        self._stop = threading.Event()
        self._tier_cv = threading.Condition()
        self._tier = tier
        self._bg_feed = None
        self._bg_lock = threading.Lock()
        self.error: BaseException | None = None
        self.opened = threading.Event()    # set once the source is open (or the pipeline has failed)
        self.source_fps = fps or 30.0
        self.source_size = size
        self.tier_used = ""
        self._reported = ""   # the last source fault reported (each new one is reported once)
        self._warned = None   # the source's warning reported (a file cut short: once)
        self._threads = [threading.Thread(target=self._capture, name="capture", daemon=True),
                         threading.Thread(target=self._segment, name="segment", daemon=True)]

    # -- control (any thread) ----------------------------------------------------------------------------
    def start(self) -> "LivePipeline":
        _RUNNING.add(self)
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """End both threads and wait for them; the source and any background feed are closed."""
        self._stop.set()
        self.frames_in.close()
        self.packets.close()
        with self._tier_cv:
            self._tier_cv.notify_all()
        for t in self._threads:
            if t.is_alive() and t is not threading.current_thread():
                t.join()
        self.set_background_feed(None)

    def set_tier(self, tier: str) -> None:
        with self._tier_cv:
            self._tier = tier
            self._tier_cv.notify_all()

    def set_background_feed(self, feed) -> None:
        """A video background read one frame per captured frame (or None); the pipeline owns it from now on."""
        with self._bg_lock:
            old, self._bg_feed = self._bg_feed, feed
        if old is not None and old is not feed:
            old.close()

    def get(self, timeout: float | None = None) -> Packet | None:
        """The next packet; None on timeout or once stopped. Raises the pipeline's error once it has ended."""
        p = self.packets.get(timeout)
        if p is None and self.packets.closed and self.error is not None:
            raise self.error
        return p

    @property
    def dropped(self) -> int:
        return self.frames_in.dropped + self.packets.dropped

    @property
    def running(self) -> bool:
        return not self.packets.closed

    # -- capture thread ------------------------------------------------------------------------------------
    def _open(self):
        from studio.capture.sources import open_source

        src = open_source(self.spec, size=self.size, fps=self.fps_wanted, loop=True, mode=self.camera_mode,
                          decode_threads=1,   # paced at the source's rate: CPU per frame counts, not speed
                          grow=False)         # a smaller source is scaled up by the sink, last (_fit)
        self.source_fps = self.fps_wanted or src.fps or 30.0
        self.source_size = self.size or tuple(src.size)
        self.opened.set()
        self.on_event("source_ok", src.name)
        return src

    def _capture(self) -> None:
        from studio import StudioError
        from studio.capture.pacing import Pacer

        src = None
        i = 0
        try:
            while not self._stop.is_set():
                if src is None:
                    try:
                        src = self._open()
                        pacer = None if src.clocked else Pacer(self.source_fps, self._stop)
                        self._reported = ""
                    except StudioError as e:
                        if not self._fault(e):
                            return
                        continue
                if pacer is not None and not pacer.wait():
                    break
                try:
                    t0 = time.perf_counter()
                    frame = self._fit(src.read())
                    cap_ms = (time.perf_counter() - t0) * 1e3
                except (StudioError, EOFError) as e:
                    src.close()
                    src = None
                    if not self._fault(e, "; retrying"):
                        return
                    continue
                warning = getattr(src, "warning", None)
                if warning is not None and warning != self._warned:
                    self._warned = warning
                    self.on_event("source_warning", warning)
                p = Packet(i, frame, time.perf_counter(), timings={"capture": cap_ms})
                p.background = self._next_background()
                self.frames_in.put(p)
                i += 1
        except BaseException as e:  # an unexpected fault ends the pipeline; get() raises it
            self.error = e
        finally:
            if src is not None:
                src.close()
            self.opened.set()
            self.frames_in.close()

    def _fault(self, e: BaseException, suffix: str = "") -> bool:
        """Report a source fault (each new message once, not every retry); True to retry in a second, False to
        end the pipeline with it."""
        if not self.retry_source:
            self.error = e if not isinstance(e, EOFError) else None
            return False
        message = f"{e}{suffix}"
        if message != self._reported:
            self._reported = message
            self.on_event("source_error", message)
        return not self._stop.wait(1.0)

    def _fit(self, frame):
        """Frames of another aspect are centre-cropped to `size`'s, never stretched: a camera that offers only
        640x480 fills a 1280x720 output without turning faces wide. Larger frames are scaled down to `size`;
        smaller ones stay at their size (segmentation and the effect cost less), the consumer renders them
        with render_packet(..., size) and its sink scales them up (Sink.fit)."""
        import cv2

        from studio.imageops import fit_cover

        if self.size is not None and (frame.shape[1], frame.shape[0]) != tuple(self.size):
            frame = fit_cover(frame, *self.size, grow=False)
        return cv2.flip(frame, 1) if self.mirror else frame

    def _next_background(self):
        from studio import StudioError

        with self._bg_lock:
            feed = self._bg_feed
            if feed is None:
                return None
            try:
                return feed.next()
            except StudioError as e:
                self._bg_feed = None
                message = str(e)
        feed.close()
        self.on_event("background_error", message)
        return None

    # -- segmentation thread ---------------------------------------------------------------------------------
    def _resolve_tier(self, wanted: str):
        if wanted != "auto":
            return wanted, wanted
        from studio.segment.tiers import choose_tier

        c = choose_tier(self.source_fps, self.source_size or (1280, 720))
        return c.tier, c

    def _segment(self) -> None:
        from studio import StudioError
        from studio.segment.reuse import SegmentOnChange
        from studio.segment.segmenter import Segmenter

        seg, seg_for = None, None
        saver = SegmentOnChange()
        try:
            while True:
                p = self.frames_in.get()
                if p is None or self._stop.is_set():
                    break
                with self._tier_cv:
                    wanted = self._tier
                if seg is None or wanted != seg_for:
                    try:
                        tier, choice = self._resolve_tier(wanted)
                        if seg is None or tier != seg.tier.name:
                            seg = Segmenter(tier)
                            saver.reset()
                        seg_for, self.tier_used = wanted, tier
                        self._look_allowed = getattr(choice, "second_look", True)
                        self.on_event("tier", choice)
                    except StudioError as e:
                        seg = None
                        if not self.wait_on_model_error:   # nobody will pick another tier: end with the error
                            raise
                        self.on_event("model_error", str(e))
                        with self._tier_cv:  # the window: wait for another tier (or stop), not a busy loop
                            self._tier_cv.wait_for(lambda: self._tier != wanted or self._stop.is_set())
                        continue
                seg.second_look = self.second_look and self._look_allowed
                kind, mask = "segment", None
                if self.segment_on_change:
                    t0 = time.perf_counter()
                    kind, mask = saver.decide(p.frame)
                    p.timings["gate"] = (time.perf_counter() - t0) * 1e3
                else:
                    saver.reset()   # switched on again later, it starts from a frame that is segmented
                if mask is not None:   # made for a picture equal to this one, or moved to this one
                    p.mask, p.still = mask, kind == "still"
                    p.picture = saver.picture if p.still else 0
                    if self.prepare is not None:
                        p.prepared = self.prepare(p.frame, p.mask)
                else:
                    _segment(seg, self.prepare, p)
                    if self.segment_on_change:
                        saver.segmented(p.mask)
                        p.picture = saver.picture
                p.tier = self.tier_used
                if self._drop_stale:
                    self.packets.put(p)
                elif not self.packets.put_wait(p):
                    break
                self.on_packet()
        except BaseException as e:
            self.error = e
        finally:
            self.packets.close()
            self.on_packet()
