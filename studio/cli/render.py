"""`backdrop render INPUT -o OUTPUT`: the effect applied to an image or a whole video, written atomically."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
from tqdm import tqdm

from studio import StudioError, printable
from studio.atomic import check_target, write_bytes
from studio import signals
from studio.cli.args import PATH, effect_flags, settings_from_args
from studio.output import VIDEO_OUTPUTS, check_not_an_input, check_video_target, open_video_file
from studio.pipeline import run_frames
from studio.segment.segmenter import Segmenter
from studio.segment.tiers import choose_tier
from studio.capture.background import BackgroundFeed
from studio.capture.sources import IMAGE_EXT, VideoSource, read_image
from studio.render import VideoBackgroundRenderer, make_renderer


OFFLINE_FPS = 30.0   # Auto's tier for a render: the one a 30 fps camera gets, or better for a slower file

def _check_paths(inp: Path, out: Path) -> bool:
    """Everything about input and output that can be checked before any work; True for an image input."""
    shown = printable(inp, 120)
    try:
        if not inp.is_file():
            raise StudioError(f"input not found: {shown}" if not inp.exists() else f"input {shown} is not a file")
    except OSError as e:
        raise StudioError(f"cannot read input {shown}: {e.strerror}") from None
    is_image = inp.suffix.lower() in IMAGE_EXT
    check_target(out)
    if is_image:
        if out.suffix.lower() not in IMAGE_EXT:
            raise StudioError(f"output {printable(out, 120)} must be an image "
                              f"({', '.join(sorted(IMAGE_EXT))}) for an image input")
    else:
        if out.suffix.lower() in IMAGE_EXT:
            raise StudioError(f"output {printable(out, 120)} is an image but the input is a video; "
                              f"use one of {', '.join(VIDEO_OUTPUTS)}")
        check_video_target(str(out))
    return is_image


def _video_frames(src):
    try:
        while True:
            try:
                yield src.read()
            except EOFError:
                return
    finally:
        src.close()


def add_parser(sub):
    r = sub.add_parser("render", help="apply the effect to an image or a video file")
    r.add_argument("input", type=PATH, help="an image or a video file")
    r.add_argument("-o", "--output", type=PATH, required=True,
                   help="an image for an image input; a video (.mp4 .mkv .avi .mov .m4v .y4m) for a video input; "
                        "written under a temporary name and renamed only when complete")
    effect_flags(r)
    return r


def run(args) -> int:
    s = settings_from_args(args)
    inp, out = Path(args.input), Path(args.output)
    is_image = _check_paths(inp, out)
    check_not_an_input(out, [inp, s.background if s.mode == "replace" else ""])
    bg = renderer = ctx = None
    try:
        bg = BackgroundFeed(s.background) if s.mode == "replace" else None
        if is_image:
            frames = iter([read_image(inp)])
            fps, total = 0.0, 1
        else:
            src = VideoSource(str(inp), loop=False)
            fps, total = src.fps, src.frame_count
            frames = _video_frames(src)
        first = next(frames)
        h, w = first.shape[:2]
        tier, look = s.tier, s.second_look
        if tier == "auto":   # offline: a file's rate (a 240 fps slow-motion clip) leaves no less time per frame
            c = choose_tier(min(fps or 30.0, OFFLINE_FPS), (w, h))
            tier, look = c.tier, look and c.second_look
            s = s.with_(refine=s.refine and c.refine)
        seg = Segmenter(tier, second_look=look)
        renderer, ctx = make_renderer(args.renderer, s)
        if bg is not None:
            renderer.set_background(bg.next())
        if is_image:
            img = renderer.render(first, seg(first).mask, s)
            ok, data = cv2.imencode(out.suffix, img)
            if not ok:
                raise StudioError(f"cannot encode a {out.suffix} image")
            write_bytes(out, data.tobytes())
        else:
            r = VideoBackgroundRenderer(renderer, bg) if bg is not None and bg.is_video else renderer
            _render_video(_chain(first, frames), seg, r, out, (w, h), fps or 30.0, total)
            if src.warning is not None:
                print(f"render: warning: {src.warning}; the frames that decode were rendered", file=sys.stderr)
            if src.rate_note is not None:
                print(f"render: note: {src.rate_note}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"render: interrupted; {printable(out, 120)} left unchanged", file=sys.stderr)
        return 130
    finally:
        if ctx is not None:
            ctx.close()
        if bg is not None:
            bg.close()
    print(f"wrote {printable(out, 200)}")
    return 0


def _render_video(frames, seg, renderer, out: Path, size, fps: float, total: int | None) -> None:
    """Decoding and segmentation on one thread, rendering and encoding on this one; the output replaces `out`
    only when complete and verified."""
    signals.cooperative()   # from here a signal stops between two frames (the check in on_output)
    sink = open_video_file(str(out), size[0], size[1], fps)
    bar = tqdm(total=total, unit="frame", file=sys.stderr, disable=None, leave=False)
    try:
        def on_output(_packet, image):
            signals.check()
            sink.send(image)
            bar.update()

        run_frames(frames, seg, renderer, on_output, overlap=True)
    except BaseException:
        sink.abort()
        raise
    finally:
        bar.close()
    sink.close()


def _chain(first, rest):
    yield first
    yield from rest
