"""Backdrop Studio core: sources, segmentation, effects, renderers, sinks. No Qt widgets here."""

__version__ = "0.1.0"


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
