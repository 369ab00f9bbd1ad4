"""Image operations shared by segmentation (preprocessing) and rendering (downsampling), below both."""
from __future__ import annotations

import cv2
import numpy as np


def grid_sample(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Mean of the 2x2 exact-centre samples per output pixel (uint8 in, uint8 out)."""
    tmp = cv2.resize(img, (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST_EXACT)
    return cv2.resize(tmp, (w, h), interpolation=cv2.INTER_AREA)


def fit_cover(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale and centre-crop an image to exactly cover (w, h). The crop is taken from the source first, so the
    work and memory are those of the output whatever the image's shape (a 1x5000 strip once took 24 GB)."""
    ih, iw = img.shape[:2]
    s = max(w / iw, h / ih)
    cw, ch = min(iw, max(1, round(w / s))), min(ih, max(1, round(h / s)))
    x0, y0 = (iw - cw) // 2, (ih - ch) // 2
    crop = img[y0:y0 + ch, x0:x0 + cw]
    if (cw, ch) == (w, h):
        return np.ascontiguousarray(crop)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.resize(crop, (w, h), interpolation=interp)
