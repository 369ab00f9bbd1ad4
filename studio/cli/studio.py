"""`backdrop studio` (the default command): the window. Qt is imported only when it runs."""
from __future__ import annotations

from studio import StudioError
from studio.cli.args import MAX_FRAMES, PATH, SOURCE, TARGET, number


def add_parser(sub):
    s = sub.add_parser("studio", help="open the studio window (the default)")
    s.add_argument("--source", type=SOURCE, default=None, help="camera:N, demo, a video or an image (default: first camera)")
    s.add_argument("--preset", type=PATH, help="start from this preset instead of the last settings")
    s.add_argument("--screenshot", type=PATH, metavar="PNG", help="with --frames: save a screenshot of the window")
    s.add_argument("--output", type=TARGET, metavar="TARGET",
                   help="send what the preview shows to: vcam (the first virtual camera), /dev/videoN, - (YUV4MPEG2 "
                        "on stdout), a FIFO or .y4m path (YUV4MPEG2), or a video file (.mp4 .mkv .avi .mov)")
    s.add_argument("--frames", type=number(0, MAX_FRAMES, int), default=0,
                   help="scripted run: draw N frames, print one JSON line and quit (0: run normally)")
    return s


def run(args) -> int:
    try:
        from ui.app import run_studio
    except ImportError as e:
        raise StudioError(f"the studio window needs Qt (PySide6), which cannot be loaded here ({e}); "
                          f"render and vcam work without it") from None
    return run_studio(args)
