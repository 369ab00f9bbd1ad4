"""Stopping a command from a signal: Ctrl+C, SIGTERM and SIGHUP.

By default a signal raises KeyboardInterrupt at once (short commands need nothing more). The long-running
commands (vcam, render) turn on `cooperative()`: then a signal only sets STOP, and they call check() between two
frames, where stopping is safe. Raising from a handler can land anywhere: inside threading's own lock code
("cannot release un-acquired lock"), inside a library's bare `except:` that swallows it, or half way through
closing a recording. A second signal while a stop is under way is ignored for the same reason."""
from __future__ import annotations

import signal
import threading

STOP = threading.Event()
_STATE = {"reason": "", "cooperative": False}


def _on_signal(signum, _frame):
    if STOP.is_set():
        return   # the stop asked for first is under way: let it finish
    _STATE["reason"] = signal.Signals(signum).name
    STOP.set()
    if not _STATE["cooperative"]:
        raise KeyboardInterrupt(_STATE["reason"])


def install(fresh: bool = True) -> None:
    """The handlers, immediate mode. fresh=False keeps a stop already asked for: a signal that came while the
    command was still importing may have had its KeyboardInterrupt swallowed (raised inside importlib's lock
    callbacks: "Exception ignored in ..."), and clearing STOP then lost the stop: vcam ran on."""
    if fresh:
        STOP.clear()
    _STATE["cooperative"] = False
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:  # nohup's (or a shell's) choice stands
            signal.signal(sig, _on_signal)
    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit a write fails with EFBIG instead of killing us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def reason() -> str:
    """The signal that asked for the stop ("" when none did)."""
    return _STATE["reason"] if STOP.is_set() else ""


def cooperative() -> None:
    """From now on signals only set STOP; the caller promises to call check() often (between frames)."""
    _STATE["cooperative"] = True
    check()


def check() -> None:
    """Raise KeyboardInterrupt here, at a safe point, if a stop was asked for."""
    if STOP.is_set():
        raise KeyboardInterrupt(_STATE["reason"] or "a signal")


def wait(event: threading.Event, step: float = 0.1) -> None:
    """Wait for `event` while staying stoppable."""
    while not event.wait(step):
        check()
