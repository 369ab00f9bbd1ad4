"""Sending frames off the thread that draws them: a newest-wins slot and one output thread per sink.

The window hands each drawn frame (or what is needed to draw it) to submit() and never waits: if the sink is
slower, older items are dropped and counted. The sink is opened on the output thread (opening a FIFO waits for
its reader); the first error stops the output, is kept in `error`, and reported through `on_error` (a file
being written is aborted: it never replaces anything)."""
from __future__ import annotations

import threading
import time

from studio.handoff import LatestSlot


class SinkWorker:
    def __init__(self, open_sink, render=None, on_error=None):
        """open_sink(first_item) -> Sink, called on the output thread; render(item) -> BGR image there too
        (None: items are images already)."""
        self._open = open_sink
        self._render = render
        self.on_error = on_error or (lambda message: None)
        self.slot = LatestSlot()
        self.sink = None
        self.error: str | None = None
        self.sent = 0
        self.t_first: float | None = None
        self.t_last: float | None = None
        self._abort = False
        self._thread = threading.Thread(target=self._run, name="output", daemon=True)

    def start(self) -> "SinkWorker":
        self._thread.start()
        return self

    def submit(self, item) -> None:
        """Any thread, never blocks: the newest item wins."""
        self.slot.put(item)

    @property
    def dropped(self) -> int:
        return self.slot.dropped

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and self.error is None

    def fps(self) -> float:
        if self.sent < 2 or self.t_first is None:
            return 0.0
        return (self.sent - 1) / max(1e-6, self.t_last - self.t_first)

    def stop(self, abort: bool = False, timeout: float = 5.0) -> str | None:
        """End the output: close the sink (a recording is kept if it holds a frame) or, with abort, drop it.
        Returns the error, if any. A reader that stopped reading (a FIFO, a pipe) can hold a write forever: after
        `timeout` the thread is left to end with the process, and that is the error returned."""
        self._abort = abort
        self.slot.close()
        self._thread.join(timeout)
        if self._thread.is_alive() and self.error is None:
            self.error = "the output did not finish: its reader stopped reading"
        return self.error

    def _run(self) -> None:
        from studio import StudioError

        try:
            while True:
                item = self.slot.get()
                if item is None:
                    break
                if self.sink is None:
                    self.sink = self._open(item)
                image = self._render(item) if self._render is not None else item
                self.sink.send(image)
                self.sent += 1
                self.t_last = time.perf_counter()
                self.t_first = self.t_first or self.t_last
            if self.sink is not None:
                if self._abort or self.sink.frames == 0:
                    self.sink.abort()
                else:
                    self.sink.close()
        except (StudioError, OSError) as e:   # no backend, device busy, reader gone (EPIPE), disk full
            self._fail(e)
        except Exception as e:                # anything else still stops only the output, never the window
            self._fail(e)

    def _fail(self, e: BaseException) -> None:
        from studio import printable

        self.error = printable(getattr(e, "strerror", None) or e) if isinstance(e, OSError) else printable(e)
        if isinstance(e, BrokenPipeError):
            self.error = "the reader went away (broken pipe)"
        if self.sink is not None:
            try:
                self.sink.abort()
            except OSError:
                pass
        self.slot.close()
        self.on_error(self.error)
