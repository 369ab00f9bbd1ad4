"""Image operations shared by segmentation (preprocessing) and rendering (downsampling), below both."""
from __future__ import annotations

import cv2
import numpy as np


def grid_sample(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Mean of the 2x2 exact-centre samples per output pixel (uint8 in, uint8 out)."""
    tmp = cv2.resize(img, (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST_EXACT)
    return cv2.resize(tmp, (w, h), interpolation=cv2.INTER_AREA)


def fit_cover(img: np.ndarray, w: int, h: int, grow: bool = True) -> np.ndarray:
    """Scale and centre-crop an image to exactly cover (w, h). The crop is taken from the source first, so the
    work and memory are those of the output whatever the image's shape (a 1x5000 strip once took 24 GB).
    grow=False: an image smaller than that is only cropped to (w, h)'s aspect, never scaled up."""
    ih, iw = img.shape[:2]
    s = max(w / iw, h / ih)
    cw, ch = min(iw, max(1, round(w / s))), min(ih, max(1, round(h / s)))
    x0, y0 = (iw - cw) // 2, (ih - ch) // 2
    crop = img[y0:y0 + ch, x0:x0 + cw]
    if (cw, ch) == (w, h) or (s > 1 and not grow):
        return np.ascontiguousarray(crop)
    if s < 1:
        return shrink(crop, w, h)
    return enlarge(crop, w, h)


_WARP_EXACT = int(cv2.__version__.split(".")[0]) >= 5   # warpAffine's bilinear weights exact (see enlarge)


def enlarge(img: np.ndarray, w: int, h: int, dst: np.ndarray | None = None) -> np.ndarray:
    """Scale up to (w, h) bilinearly at pixel centres, clamped to the edge: INTER_LINEAR's picture through
    warpAffine's faster path (960x540 -> 1280x720, one plane, one thread: 0.23 against 0.52 ms; BGR 1.2
    against 1.9). Within one grey level of INTER_LINEAR: mean 0.07-0.1 on photos, at most 1 on black and white
    noise at random sizes and ratios (tests/test_imageops.py). That holds from OpenCV 5 (pyproject asks for it)
    for 1, 3 or 4 channels of uint8, uint16 or float32; elsewhere warpAffine samples on a 1/32-pixel grid (up to
    8 grey levels off on noise), so those images, and any OpenCV 4, take INTER_LINEAR itself."""
    if (not _WARP_EXACT or img.dtype not in (np.uint8, np.uint16, np.float32)
            or (img.ndim == 3 and img.shape[2] not in (1, 3, 4))):
        return cv2.resize(img, (w, h), dst=dst, interpolation=cv2.INTER_LINEAR)
    ih, iw = img.shape[:2]
    sx, sy = iw / w, ih / h
    m = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])
    return cv2.warpAffine(img, m, (w, h), dst=dst, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def fit_inside(fw: int, fh: int, width: int, height: int) -> tuple[int, int]:
    """The whole-pixel size an fw x fh image is shown at inside width x height, aspect kept, scaled up or down
    (the raster preview's picture, and the size its render thread draws it at)."""
    sc = min(width / fw, height / fh)
    return max(1, round(fw * sc)), max(1, round(fh * sc))


def shrink(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale down to (w, h) (neither side larger; the image itself when it is already that size), as INTER_AREA
    would, at a fraction of its cost at ratios like 1.5 (its general path: 1080p to 720p 11-13 ms, one thread).
    Each axis is halved with a two-pixel box while it is still twice too large or more (INTER_LINEAR at exactly
    half is that box); the rest, under 2x, is bilinear after a 3-tap Gaussian of sigma 0.31 x the ratio on each
    axis scaled by more than 1.1, which leaves about as much aliasing as INTER_AREA's box (a zone plate at 1.27x,
    1.7x and 1.94x) where bilinear alone left up to 1.7x as much (text and railings broke up). Against INTER_AREA
    on detailed 720p photos under 2x: mean 0.2-1.2 grey levels, p99 2-13; beyond 2x a little softer (mean up to
    2.7, less aliasing than it). Integer ratios keep INTER_AREA's fast path. benchmarks/run.py
    `downscaling_ms` has the costs (3.5-4x less at 720p)."""
    ih, iw = img.shape[:2]
    if (iw, ih) == (w, h):
        return img
    if iw % w == 0 and ih % h == 0:
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    while iw >= 2 * w or ih >= 2 * h:    # each axis on its own: a square model input from a wide frame
        iw, ih = (iw // 2 if iw >= 2 * w else iw), (ih // 2 if ih >= 2 * h else ih)
        img = cv2.resize(img, (iw, ih), interpolation=cv2.INTER_LINEAR)
    if (iw, ih) == (w, h):
        return img
    rx, ry = iw / w, ih / h
    kx, ky = (3 if rx > 1.1 else 1), (3 if ry > 1.1 else 1)
    if kx > 1 or ky > 1:
        img = cv2.GaussianBlur(img, (kx, ky), SHRINK_SIGMA * rx, sigmaY=SHRINK_SIGMA * ry)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)


SHRINK_SIGMA = 0.31   # shrink's pre-filter per unit of ratio (tuned to INTER_AREA's leftover aliasing)


def downscale(frame: np.ndarray, w: int, h: int) -> np.ndarray:
    """Resize a frame to (w, h) cheaply without aliasing badly.

    INTER_AREA at a non-integer 8x/7.5x ratio costs more than the model itself. Instead, for large ratios we take
    a 2x2 grid of exact-centre samples per output pixel (INTER_NEAREST_EXACT to 2w x 2h, touching only those
    pixels), then average them with INTER_AREA's integer fast path: within ~0.6 grey levels of a full box filter
    at a fifth of the cost. Smaller ratios go through `shrink` (a 640x480 camera for the hd model: 0.3 ms
    against INTER_AREA's 1.9), upscaling through INTER_LINEAR."""
    fh, fw = frame.shape[:2]
    if (fw, fh) == (w, h):
        return frame
    ratio = min(fw / w, fh / h)
    if ratio >= 3.0:
        return grid_sample(frame, w, h)
    if fw >= w and fh >= h:
        return shrink(frame, w, h)
    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
