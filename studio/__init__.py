"""Backdrop Studio core: sources, segmentation, effects, renderers, sinks. No Qt widgets here."""

import os

__version__ = "0.1.0"

MAX_SIDE = 8192             # the largest frame side any command accepts
MAX_PIXELS = MAX_SIDE * MAX_SIDE
# OpenCV reads this when it loads (so here, before any module of ours imports cv2) and checks every image header
# against it before allocating: a 10000x10000 file is refused in milliseconds instead of taking 300 MB to decode
# and more than a gigabyte to render
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))


class StudioError(Exception):
    """An error meant for the user: its message is one clear line."""


def printable(text, limit: int = 400) -> str:
    """`text` made safe for one line of a terminal or status bar: control characters escaped (a path or preset
    value can hold newlines or escape sequences) and the middle of anything over `limit` characters cut out."""
    s = str(text)
    if len(s) > 4 * limit:  # a 50 MB path: escape only what can be shown
        s = s[: 2 * limit] + s[-2 * limit:]
    s = "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)
    if len(s) > limit:
        half = (limit - 3) // 2
        s = f"{s[:half]}...{s[-half:]}"
    return s


def opencv_path(path) -> str:
    """A path as OpenCV may take it. OpenCV converts a Python str to UTF-8 and crashes the process (SIGSEGV)
    on one that holds an undecodable byte of a file name (Python's surrogate escape): such a name is refused
    here with one line instead."""
    s = os.fsdecode(path)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise StudioError(f"{printable(s, 120)}: the file name is not valid UTF-8, which OpenCV cannot open; "
                          "rename it") from None
    return s
