"""`backdrop render INPUT -o OUTPUT`: the effect applied to an image or a whole video, written atomically."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from studio import StudioError, printable
from studio.atomic import check_target, write_bytes
from studio.output import VIDEO_OUTPUTS, check_video_target, open_video_file
from studio.pipeline import run_frames
from studio.segmenter import Segmenter, choose_tier
from studio.settings import DEFAULTS, load_preset
from studio.sources import IMAGE_EXT, VideoSource, read_image


def settings_from_args(args):
    """The preset (or defaults) with single fields overridden by command-line flags."""
    s = load_preset(args.preset) if getattr(args, "preset", None) else DEFAULTS
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


class BackgroundFeed:
    """A replacement background: a still image, or a video that loops, one frame per call to next()."""

    def __init__(self, path: str):
        if not path:
            raise StudioError("replace mode needs a background: pass --background IMG or set it in the preset")
        self.path = path
        self._video = None
        if Path(path).suffix.lower() in IMAGE_EXT:
            self._still = read_image(path, "background")
        else:
            self._video = VideoSource(path, loop=True)
            self._still = None

    @property
    def is_video(self) -> bool:
        return self._video is not None

    def next(self) -> np.ndarray:
        return self._still if self._video is None else self._video.read()

    def close(self) -> None:
        if self._video is not None:
            self._video.close()


def load_background(path: str) -> np.ndarray:
    """An image background, or the first frame of a video background (checks that it can be read)."""
    feed = BackgroundFeed(path)
    try:
        return feed.next()
    finally:
        feed.close()


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


def run_render(args) -> int:
    from studio.bench import make_renderer

    s = settings_from_args(args)
    inp, out = Path(args.input), Path(args.output)
    is_image = _check_paths(inp, out)
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
        tier = s.tier
        if tier == "auto":
            c = choose_tier(fps or 30.0, (w, h))
            tier = c.tier
            s = s.with_(refine=s.refine and c.refine)
        seg = Segmenter(tier)
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
    sink = open_video_file(str(out), size[0], size[1], fps)
    bar = tqdm(total=total, unit="frame", file=sys.stderr, disable=None, leave=False)
    try:
        def on_output(_packet, image):
            sink.send(image)
            bar.update()

        run_frames(frames, seg, renderer, on_output, overlap=True)
    except BaseException:
        sink.abort()
        raise
    finally:
        bar.close()
    sink.close()


class VideoBackgroundRenderer:
    """A renderer whose replacement background advances one video frame per rendered frame."""

    def __init__(self, renderer, feed: BackgroundFeed):
        self._r = renderer
        self._feed = feed
        self._first = True

    def __getattr__(self, name):
        return getattr(self._r, name)

    def render(self, frame, mask, prepared=None):
        if not self._first:
            self._r.set_background(self._feed.next())
        self._first = False
        if prepared is None:
            return self._r.render(frame, mask)
        return self._r.render(frame, mask, prepared=prepared)


def _chain(first, rest):
    yield first
    yield from rest
