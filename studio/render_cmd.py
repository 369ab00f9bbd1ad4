"""`backdrop render INPUT -o OUTPUT`: the effect applied to an image or a whole video, written atomically."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from studio import StudioError
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
            self._still = read_image(path)
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


class _Progress:
    def __init__(self, total: int | None):
        self.total = total
        self.tty = sys.stderr.isatty()

    def update(self, i: int) -> None:
        if self.total:
            done = int(30 * i / self.total)
            line = f"\r[{'#' * done}{'.' * (30 - done)}] {i}/{self.total} frames"
        else:
            line = f"\r{i} frames"
        if self.tty or i == self.total or i % 50 == 0:
            sys.stderr.write(line)
            sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")


def _writable_dir(out: Path) -> None:
    d = out.parent if str(out.parent) else Path(".")
    if not d.is_dir():
        raise StudioError(f"cannot write {out}: folder {d} does not exist")
    if not os.access(d, os.W_OK):
        raise StudioError(f"cannot write {out}: folder {d} is not writable")


class FileSink:
    """A video file, written under a temporary name and renamed by close(): an existing file of that name is
    replaced only by a finished recording; abort() drops the unfinished one."""

    def __init__(self, path: str, w: int, h: int, fps: float):
        out = Path(path)
        _writable_dir(out)
        fd, self.tmp = tempfile.mkstemp(prefix=".backdrop-", suffix=out.suffix or ".avi", dir=str(out.parent))
        os.close(fd)
        self.path = path
        fourcc = cv2.VideoWriter_fourcc(*("mp4v" if out.suffix.lower() in (".mp4", ".mov", ".m4v") else "MJPG"))
        self.writer = cv2.VideoWriter(self.tmp, fourcc, fps, (w, h))
        if not self.writer.isOpened():
            os.unlink(self.tmp)
            raise StudioError(f"cannot write video {path} (unsupported container {out.suffix}?)")

    def send(self, frame_bgr) -> None:
        self.writer.write(frame_bgr)

    def close(self) -> None:
        self.writer.release()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.writer.release()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)


def run_render(args) -> int:
    from studio.bench import make_renderer

    s = settings_from_args(args)
    inp, out = Path(args.input), Path(args.output)
    if not inp.is_file():
        raise StudioError(f"input not found: {inp}")
    _writable_dir(out)
    is_image = inp.suffix.lower() in IMAGE_EXT
    if is_image and out.suffix.lower() not in IMAGE_EXT:
        raise StudioError(f"output {out} must be an image ({', '.join(sorted(IMAGE_EXT))}) for an image input")
    bg = BackgroundFeed(s.background) if s.mode == "replace" else None
    if is_image:
        frames = iter([read_image(inp)])
        fps, total = 0.0, 1
    else:
        src = VideoSource(str(inp), loop=False)
        fps, total = src.fps, src.frame_count

        def gen():
            try:
                while True:
                    try:
                        yield src.read()
                    except EOFError:
                        return
            finally:
                src.close()
        frames = gen()
    first = next(frames)
    h, w = first.shape[:2]
    tier = s.tier
    if tier == "auto":
        tier = choose_tier(fps or 30.0, (w, h)).tier
    seg = Segmenter(tier)
    renderer, ctx = make_renderer(args.renderer, s)
    if bg is not None:
        renderer.set_background(bg.next())
    try:
        if is_image:
            img = renderer.render(first, seg(first).mask, s)
            fd, tmp = tempfile.mkstemp(prefix=".backdrop-", suffix=out.suffix, dir=str(out.parent or "."))
            os.close(fd)
            try:
                if not cv2.imwrite(tmp, img):
                    raise StudioError(f"cannot encode {out.suffix} image")
                os.replace(tmp, out)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        else:
            sink = FileSink(str(out), w, h, fps or 30.0)
            bar = _Progress(total)
            n = 0

            def on_output(_packet, image):
                nonlocal n
                sink.send(image)
                n += 1
                bar.update(n)

            try:
                # decoding and segmentation on one thread, rendering and encoding on this one
                r = VideoBackgroundRenderer(renderer, bg) if bg is not None and bg.is_video else renderer
                run_frames(_chain(first, frames), seg, r, on_output, overlap=True)
            except BaseException:
                sink.abort()
                raise
            finally:
                bar.close()
            sink.close()
    finally:
        if ctx is not None:
            ctx.close()
        if bg is not None:
            bg.close()
    print(f"wrote {out}")
    return 0


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
