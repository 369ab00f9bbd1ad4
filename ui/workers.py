"""The Qt adapter over the one live pipeline (studio.pipeline.LivePipeline). Nothing here touches GL.

The pipeline's threads call back from outside Qt; this adapter turns those calls into signals delivered on the
GUI thread. Packets are not carried by the signal: `packet_ready` only says "the slot has a packet", at most one
such notification is queued at a time, and take() returns the newest packet. Qt's event queue never grows with
frames the GUI thread could not draw in time (those are dropped in the pipeline's slot and counted)."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from studio.pipeline import LivePipeline, Packet


class LiveFeed(QObject):
    packet_ready = Signal()
    source_ok = Signal(str)
    source_error = Signal(str)
    source_warning = Signal(str)   # the source still delivers (a file cut short plays what decodes)
    model_error = Signal(str)
    background_error = Signal(str)
    tier_chosen = Signal(object)   # a TierChoice when the tier is auto, else the tier's name

    _EVENTS = ("source_ok", "source_error", "source_warning", "model_error", "background_error")

    def __init__(self, spec: str, tier: str, parent=None, camera_mode=None, second_look: bool = True,
                 segment_on_change: bool = True):
        super().__init__(parent)
        self._notified = False
        self.pipeline = LivePipeline(spec, tier=tier, retry_source=True, drop_stale=True, wait_on_model_error=True,
                                     on_event=self._on_event, on_packet=self._on_packet, camera_mode=camera_mode,
                                     second_look=second_look, segment_on_change=segment_on_change)

    def start(self) -> None:
        self.pipeline.start()

    def stop(self) -> None:
        """Any thread; returns when both pipeline threads have ended."""
        self.pipeline.stop()

    def take(self) -> Packet | None:
        """GUI thread: the newest packet, or None."""
        self._notified = False   # first: a packet arriving from now on notifies again
        try:
            return self.pipeline.get(timeout=0)
        except Exception as e:   # an unexpected fault in a worker: shown, never raised into Qt
            self.model_error.emit(f"pipeline stopped: {e}")
            return None

    # -- called from the pipeline's threads ------------------------------------------------------------------
    def _on_packet(self) -> None:
        if not self._notified:
            self._notified = True
            self.packet_ready.emit()

    def _on_event(self, kind: str, value) -> None:
        if kind == "tier":
            self.tier_chosen.emit(value)
        elif kind in self._EVENTS:
            getattr(self, kind).emit(str(value))
