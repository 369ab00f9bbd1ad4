"""What every command shares: one-line argparse errors, checked number and size types, the effect flags and
how they override a preset's fields."""
from __future__ import annotations

import argparse
import math
import os

from studio import StudioError, printable
from studio.capture.sources import parse_size
from studio.settings import DEFAULTS, MODES, SCHEMA, TIERS, load_preset

class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr (no usage block) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {printable(message)} (see {self.prog} --help)\n")


def number(lo: float, hi: float, kind=float, lo_open: bool = False):
    """An argparse type: a finite number of `kind` in [lo, hi] (or (lo, hi] with lo_open)."""
    def parse(text: str):
        try:
            v = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"not {'an integer' if kind is int else 'a number'}: "
                                             f"{printable(repr(text), 60)}") from None
        if isinstance(v, float) and not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {printable(text, 40)}")
        if (v <= lo if lo_open else v < lo) or v > hi:
            fmt = "{:d}" if kind is int else "{:g}"
            raise argparse.ArgumentTypeError(f"must be in {'(' if lo_open else '['}{fmt.format(lo)}, "
                                             f"{fmt.format(hi)}], got {fmt.format(v)}")
        return v
    return parse


def size(text: str):
    if not text.strip():   # given, but empty: not the same as leaving the default
        raise argparse.ArgumentTypeError(f"size must look like 1280x720, got {text!r}")
    try:
        return parse_size(text)
    except StudioError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def given(what: str):
    """An argparse type for a name the user must spell out (a file, a source, a device): given but empty or
    blank is an error, never the same as leaving the flag out (`--preset ""` once ran with no preset)."""
    def parse(text: str):
        if not text.strip():
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return text
    return parse


PATH = given("a file name")
SOURCE = given("a source (camera:N, demo, a video or an image)")
TARGET = given("an output (a file name, or - for standard output)")


def camera_mode(text: str):
    from studio.capture.modes import parse_mode

    try:
        return parse_mode(text)
    except StudioError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


BF_TOL = number(0.0, 0.1, lo_open=True)
THREADS = number(1, max(1, os.cpu_count() or 1), int)
FPS = number(1.0, 240.0)
MAX_FRAMES = 10_000_000


def blur_radius(text: str):
    f = SCHEMA["max_coc"]
    return number(f.lo, f.hi)(text)


RENDERERS = ["cpu", "gl", "auto"]
RENDERER_HELP = "gl: GLSL on a headless EGL context; cpu: the numba twin; auto: gl on a hardware GPU, else cpu"


def effect_flags(p: argparse.ArgumentParser) -> None:
    """Flags that override single fields of the preset (render, vcam)."""
    p.add_argument("--preset", type=PATH, help="a preset file exported by the studio (JSON)")
    p.add_argument("--mode", choices=MODES, help="effect: none, blur, replace (needs a background) or mask view")
    p.add_argument("--background", type=PATH, metavar="IMG_OR_VIDEO", help="replacement background (image or video)")
    p.add_argument("--blur-radius", type=blur_radius, metavar="PX", help="max blur radius in output pixels")
    p.add_argument("--tier", choices=TIERS, help="segmentation model tier (auto: measured on this machine)")
    p.add_argument("--renderer", default="auto", choices=RENDERERS, help=RENDERER_HELP)


def settings_from_args(args, base=None):
    """The preset (or `base`, or the defaults) with single fields overridden by command-line flags."""
    s = base if base is not None else load_preset(args.preset) if getattr(args, "preset", None) else DEFAULTS
    changes = {}
    if getattr(args, "mode", None):
        changes["mode"] = args.mode
    if getattr(args, "background", None):
        changes["background"] = args.background
    if getattr(args, "blur_radius", None) is not None:
        changes["max_coc"] = args.blur_radius
    if getattr(args, "tier", None):
        changes["tier"] = args.tier
    return s.with_(**changes) if changes else s
