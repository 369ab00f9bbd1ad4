"""The one live hand-off between threads: a single slot (never an unbounded queue)."""
from __future__ import annotations

import threading


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

    def put_if_empty(self, item) -> bool:
        """Hand over `item` only if the slot is empty (nothing is replaced or counted); False otherwise."""
        with self._cv:
            if self._closed or self._item is not None:
                return False
            self._item = item
            self._cv.notify_all()
            return True

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
