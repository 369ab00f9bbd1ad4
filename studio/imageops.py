"""Image operations shared by segmentation (preprocessing) and rendering (downsampling), below both."""
from __future__ import annotations

import cv2
import numpy as np


def grid_sample(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Mean of the 2x2 exact-centre samples per output pixel (uint8 in, uint8 out)."""
    tmp = cv2.resize(img, (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST_EXACT)
    return cv2.resize(tmp, (w, h), interpolation=cv2.INTER_AREA)
