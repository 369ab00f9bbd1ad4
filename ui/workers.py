"""Capture and segmentation threads. Newest frame wins at every hand-off; nothing here touches GL."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QThread, Signal

from studio import StudioError
from studio.pipeline import LatestSlot
from studio.segment.segmenter import Segmenter
from studio.capture.sources import open_source


@dataclass
class FramePacket:
    frame: np.ndarray
    mask: np.ndarray
    t_capture: float
    timings: dict = field(default_factory=dict)
    tier: str = ""
    background: np.ndarray | None = None  # this frame's background, when it is a video


class CaptureThread(QThread):
    """Reads the source into a single slot. A failing source is reported and reopened every second."""

    source_error = Signal(str)
    source_ok = Signal(str)

    def __init__(self, spec: str, slot: LatestSlot, size=None, parent=None):
        super().__init__(parent)
        self.spec = spec
        self.slot = slot
        self.size = size
        self._running = True
        self.fps = 30.0
        self.frame_size = (1280, 720)
        self._bg_feed = None      # owned by this thread once handed over
        self._bg_pending = None   # (feed,) set from the GUI thread

    def set_background_feed(self, feed) -> None:
        """Hand over a video background (BackgroundFeed) or None; this thread reads it frame by frame."""
        self._bg_pending = (feed,)

    def _next_background(self):
        pending, self._bg_pending = self._bg_pending, None
        if pending is not None:
            if self._bg_feed is not None:
                self._bg_feed.close()
            self._bg_feed = pending[0]
        if self._bg_feed is None:
            return None
        try:
            return self._bg_feed.next()
        except StudioError as e:
            self.source_error.emit(f"background: {e}")
            self._bg_feed.close()
            self._bg_feed = None
            return None

    def stop(self) -> None:
        self._running = False

    def run(self) -> None:
        src = None
        failed = False
        while self._running:
            if src is None:
                try:
                    src = open_source(self.spec, size=self.size, loop=True, realtime=True)
                    self.fps = src.fps or 30.0
                    self.frame_size = tuple(src.size)
                    self.source_ok.emit(src.name)
                    failed = False
                except StudioError as e:
                    if not failed:
                        self.source_error.emit(str(e))
                    failed = True
                    self._sleep(1.0)
                    continue
            try:
                if hasattr(src, "wait_next"):
                    src.wait_next()  # pacing is not capture time
                t0 = time.perf_counter()
                frame = src.read()
                if not src.live:  # files and stills: pace to their frame rate
                    time.sleep(max(0.0, 1.0 / self.fps - (time.perf_counter() - t0)))
                cap_ms = (time.perf_counter() - t0) * 1e3
                self.slot.put((frame, time.perf_counter(), cap_ms, self._next_background()))
            except (StudioError, EOFError) as e:
                self.source_error.emit(f"{e}; retrying")
                failed = True
                src.close()
                src = None
                self._sleep(1.0)
        if src is not None:
            src.close()
        if self._bg_feed is not None:
            self._bg_feed.close()

    def _sleep(self, s: float) -> None:
        end = time.perf_counter() + s
        while self._running and time.perf_counter() < end:
            time.sleep(0.02)


class SegmentWorker(QThread):
    """Takes the newest captured frame, segments it, and hands a FramePacket to the GUI thread."""

    packet_ready = Signal(object)
    error = Signal(str)

    def __init__(self, slot: LatestSlot, tier: str, parent=None):
        super().__init__(parent)
        self.slot = slot
        self._tier = tier
        self._want_tier = tier
        self._running = True

    def set_tier(self, tier: str) -> None:
        self._want_tier = tier

    def stop(self) -> None:
        self._running = False
        self.slot.close()

    def run(self) -> None:
        seg = None
        while self._running:
            item = self.slot.get(timeout=0.1)
            if item is None:
                continue
            frame, t_cap, cap_ms, bg = item
            if seg is None or self._want_tier != self._tier:
                try:
                    seg = Segmenter(self._want_tier)
                    self._tier = self._want_tier
                except StudioError as e:
                    self.error.emit(str(e))
                    self._sleep_until_tier_change()
                    continue
            r = seg(frame)
            self.packet_ready.emit(FramePacket(frame, r.mask.copy(), t_cap,
                                               {"capture": cap_ms, **r.timings}, self._tier, bg))

    def _sleep_until_tier_change(self) -> None:
        failed = self._want_tier
        while self._running and self._want_tier == failed:
            time.sleep(0.1)
