"""The headless pipeline: source -> segmenter -> renderer -> sink, in series or overlapped on two threads.

Overlapped: a segmentation thread and the rendering (calling) thread hand frames over through a single slot.
For files every frame is kept, in order (the slot waits until it is free); for live sources the capture slot is
overwritten: the newest frame wins and stale ones are dropped and counted. LiteRT and OpenCV release the GIL,
so the two stages run on two cores."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from studio.segment.segmenter import Segmenter


@dataclass
class Packet:
    index: int
    frame: np.ndarray
    t_in: float
    mask: np.ndarray | None = None
    timings: dict = field(default_factory=dict)
    prepared: tuple | None = None


class LatestSlot:
    """Single-slot hand-off. put() overwrites (the newest item wins; the one replaced is counted as dropped),
    put_wait() waits until the slot is free (back-pressure, nothing dropped); get() waits for an item. close()
    wakes every waiter: get() then returns None and puts are ignored."""

    def __init__(self):
        self._cv = threading.Condition()
        self._item = None
        self._closed = False
        self.dropped = 0

    def put(self, item) -> None:
        with self._cv:
            if self._closed:
                return
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cv.notify_all()

    def put_wait(self, item) -> bool:
        """Hand over `item` once the slot is empty; False if the slot was closed first."""
        with self._cv:
            self._cv.wait_for(lambda: self._item is None or self._closed)
            if self._closed:
                return False
            self._item = item
            self._cv.notify_all()
            return True

    def get(self, timeout: float | None = None):
        with self._cv:
            if not self._cv.wait_for(lambda: self._item is not None or self._closed, timeout):
                return None
            item, self._item = self._item, None
            self._cv.notify_all()
            return item

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


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


def run_live(source, seg: Segmenter, renderer, on_output, should_stop=lambda: False, max_frames: int = 0,
             check_every: float = 0.5) -> dict:
    """Live sources: a capture thread writes into a single slot (newest frame wins, stale frames dropped and
    counted), a segmentation thread (with the renderer's mask-resolution half) hands each packet on through a
    second slot with back-pressure, and the calling thread renders and calls on_output(packet, image).
    should_stop() is asked after every frame and at least every `check_every` s while no frame comes.
    Every thread has ended when this returns (normally, by an exception, or by KeyboardInterrupt).
    Returns {"dropped": n, "frames": n}."""
    frames_in = LatestSlot()
    packets = LatestSlot()
    stop = threading.Event()
    errors: list[BaseException] = []
    split = hasattr(renderer, "prepare")

    def capture():
        i = 0
        try:
            while not stop.is_set():
                f = source.read()
                frames_in.put(Packet(i, f, time.perf_counter()))
                i += 1
        except BaseException as e:
            errors.append(e)
        finally:
            frames_in.close()

    def segment():
        try:
            while True:
                p = frames_in.get()
                if p is None or stop.is_set():
                    break
                if not packets.put_wait(_segment(seg, renderer, p, split)):
                    break
        except BaseException as e:
            errors.append(e)
        finally:
            packets.close()

    threads = [threading.Thread(target=capture, name="capture", daemon=True),
               threading.Thread(target=segment, name="segment", daemon=True)]
    for t in threads:
        t.start()
    n = 0
    try:
        while not should_stop() and (not max_frames or n < max_frames):
            p = packets.get(timeout=check_every)
            if p is None:
                if packets.closed:
                    break
                continue
            on_output(p, _render(renderer, p, split))
            n += 1
    finally:
        stop.set()
        frames_in.close()
        packets.close()
        for t in threads:  # each wakes at once: both slots are closed; a source read ends within a frame
            t.join()
    if errors and not isinstance(errors[0], EOFError):
        raise errors[0]
    return {"dropped": frames_in.dropped, "frames": n}
