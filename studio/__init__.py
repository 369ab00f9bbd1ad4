"""Backdrop Studio core: sources, segmentation, effects, renderers, sinks. No Qt widgets here."""

__version__ = "0.1.0"


class StudioError(Exception):
    """An error meant for the user: its message is one clear line."""
