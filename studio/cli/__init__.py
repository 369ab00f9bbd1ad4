"""The `backdrop` command: one module per subcommand, each with add_parser(sub) and run(args) -> exit code.
Commands only parse, wire and report; the work happens in the core."""
from __future__ import annotations

import os
import sys

# OpenCV and its FFmpeg print warnings per frame (a full disk: one per frame); the commands check results
# themselves and say what went wrong in one line. Set before the command modules import cv2.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
# OpenCV's worker pool spins between the small per-frame calls: at 720p30 it cost 3.3 ms of CPU per frame for
# nothing (`bench --live`: 15.1 -> 13.4 ms per frame with one thread; `bench` throughput 217 -> 220 fps)
os.environ.setdefault("OPENCV_FOR_THREADS_NUM", "1")

from studio import StudioError, __version__, printable  # noqa: E402
from studio import signals  # noqa: E402
from studio.cli import bench, doctor, eval, models, render, studio, vcam  # noqa: E402
from studio.cli.args import Parser  # noqa: E402

COMMANDS = (models, eval, bench, render, vcam, doctor, studio)


def build_parser() -> Parser:
    p = Parser(prog="backdrop", description="Backdrop Studio: real-time background blur and replacement.")
    p.add_argument("--version", action="version", version=f"backdrop {__version__}")
    sub = p.add_subparsers(dest="command")
    for cmd in COMMANDS:
        cmd.add_parser(sub).set_defaults(func=cmd.run)
    return p


def main(argv=None, *, signals_installed: bool = False) -> int:
    """signals_installed: the caller (python -m studio, the backdrop command) put the signal handlers in before
    importing; a stop asked for since then stands. A direct call starts from none."""
    from studio.platform import tune_allocator

    tune_allocator()
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["studio", *argv]
    args = parser.parse_args(argv)
    signals.install(fresh=not signals_installed)
    if signals.reason():   # a stop asked for while starting, whose KeyboardInterrupt an import swallowed
        print(f"backdrop: stopped by {signals.reason()} while starting", file=sys.stderr)
        return 130
    try:
        return args.func(args)
    except StudioError as e:
        print(f"backdrop: error: {printable(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as e:  # the last line of defence: a file-system fault the command did not expect
        where = f" ({printable(e.filename, 120)})" if getattr(e, "filename", None) else ""
        print(f"backdrop: error: {printable(e.strerror or e)}{where}", file=sys.stderr)
        return 2
