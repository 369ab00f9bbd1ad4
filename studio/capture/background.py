"""Replacement backgrounds: a still image, or a video that loops and advances one frame per call."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from studio import StudioError
from studio.capture.sources import IMAGE_EXT, VideoSource, read_image


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
