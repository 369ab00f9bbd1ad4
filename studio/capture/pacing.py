"""Frame pacing: sources without a clock of their own (files, stills, the demo) deliver frames at their rate,
as a camera would. The one copy of this logic; the wait ends at once when the pipeline stops."""
from __future__ import annotations

import threading
import time


class Pacer:
    """wait() returns when the next frame is due, 1/fps after the last (a late frame resets the schedule rather
    than bursting to catch up). False if `stop` was set while waiting."""

    def __init__(self, fps: float, stop: threading.Event | None = None):
        self.period = 1.0 / fps
        self.stop = stop or threading.Event()
        self.next_due: float | None = None

    def wait(self) -> bool:
        now = time.perf_counter()
        due = now if self.next_due is None else max(now, self.next_due)
        self.next_due = due + self.period
        if due > now:
            return not self.stop.wait(due - now)
        return not self.stop.is_set()
