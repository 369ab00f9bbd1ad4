"""The headless pipeline: source -> segmenter -> renderer -> sink, in series or overlapped on two threads.

Overlapped: a segmentation thread and the rendering (calling) thread hand frames over through a bounded queue.
For files every frame is kept, in order (the queue blocks); for live sources the hand-off is a single slot where
the newest frame wins and stale ones are dropped and counted. LiteRT and OpenCV release the GIL, so the two
stages run on two cores."""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from studio.segmenter import Segmenter


@dataclass
class Packet:
    index: int
    frame: np.ndarray
    t_in: float
    mask: np.ndarray | None = None
    timings: dict = field(default_factory=dict)
    prepared: tuple | None = None


class LatestSlot:
    """Single-slot hand-off: put() overwrites, get() waits for the newest item. Counts dropped items."""

    def __init__(self):
        self._cv = threading.Condition()
        self._item = None
        self._closed = False
        self.dropped = 0

    def put(self, item) -> None:
        with self._cv:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cv.notify()

    def get(self, timeout: float | None = None):
        with self._cv:
            if not self._cv.wait_for(lambda: self._item is not None or self._closed, timeout):
                return None
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


_END = object()


def _segment(seg: Segmenter, renderer, p: Packet, split: bool) -> Packet:
    """Segmentation-thread half: the mask, and with `split` the renderer's mask-resolution half too."""
    r = seg(p.frame)
    p.mask = r.mask.copy()
    p.timings.update(r.timings)
    if split:
        p.prepared = renderer.prepare(p.frame, p.mask)
    return p


def _render(renderer, p: Packet, split: bool):
    """Rendering-thread half; fills the packet's refine, composite and end-to-end latency timings."""
    t0 = time.perf_counter()
    out = renderer.render(p.frame, p.mask, prepared=p.prepared) if split else renderer.render(p.frame, p.mask)
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

    def segment(p: Packet) -> Packet:
        return _segment(seg, renderer, p, split)

    def render(p: Packet):
        on_output(p, _render(renderer, p, split))

    if not overlap:
        for i, f in enumerate(frames):
            render(segment(Packet(i, f, time.perf_counter())))
        return

    q: queue.Queue = queue.Queue(maxsize=1)
    errors: list[BaseException] = []

    def worker():
        try:
            for i, f in enumerate(frames):
                q.put(segment(Packet(i, f, time.perf_counter())))
        except BaseException as e:  # surfaced on the calling thread
            errors.append(e)
        finally:
            q.put(_END)

    t = threading.Thread(target=worker, name="segment", daemon=True)
    t.start()
    while True:
        p = q.get()
        if p is _END:
            break
        render(p)
    t.join()
    if errors:
        raise errors[0]


def run_live(source, seg: Segmenter, renderer, on_output, should_stop=lambda: False, max_frames: int = 0) -> dict:
    """Live sources: a capture thread writes into a single slot (newest frame wins, stale frames dropped and
    counted), a segmentation thread (with the renderer's mask-resolution half) hands a packet of one to the
    calling thread, which renders and calls on_output(packet, image). Returns {"dropped": n, "frames": n}."""
    slot = LatestSlot()
    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    errors: list[BaseException] = []
    split = hasattr(renderer, "prepare")

    def capture():
        i = 0
        try:
            while not stop.is_set():
                f = source.read()
                slot.put(Packet(i, f, time.perf_counter()))
                i += 1
        except BaseException as e:
            errors.append(e)
        finally:
            slot.close()

    def segment():
        try:
            while not stop.is_set():
                p = slot.get(timeout=0.1)
                if p is None:
                    if slot.closed:
                        break
                    continue
                _segment(seg, renderer, p, split)
                while not stop.is_set():
                    try:
                        q.put(p, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as e:
            errors.append(e)
        finally:
            q.put(_END)

    threads = [threading.Thread(target=capture, name="capture", daemon=True),
               threading.Thread(target=segment, name="segment", daemon=True)]
    for t in threads:
        t.start()
    n = 0
    try:
        while not should_stop() and (not max_frames or n < max_frames):
            try:
                p = q.get(timeout=0.2)
            except queue.Empty:
                continue
            if p is _END:
                break
            on_output(p, _render(renderer, p, split))
            n += 1
    finally:
        stop.set()
        slot.close()
        try:
            while True:
                q.get_nowait()
        except queue.Empty:
            pass
        for t in threads:
            t.join(timeout=2.0)
    if errors and not isinstance(errors[0], (EOFError,)):
        raise errors[0]
    return {"dropped": slot.dropped, "frames": n}
