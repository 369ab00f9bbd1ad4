"""Segmentation and effect metrics: IoU, DAVIS boundary F-measure, flicker, halo."""
from __future__ import annotations

import math

import cv2
import numpy as np


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    p = pred.astype(bool)
    g = gt.astype(bool)
    union = np.logical_or(p, g).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(p, g).sum() / union)


def boundary(mask: np.ndarray) -> np.ndarray:
    """DAVIS seg2bmap: pixels whose east, south or south-east neighbour differs (the image border is no edge)."""
    seg = mask.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def boundary_f(pred: np.ndarray, gt: np.ndarray, tol: float = 0.008) -> float:
    """DAVIS boundary F-measure: boundaries match within ceil(tol * image diagonal) pixels."""
    h, w = gt.shape[:2]
    r = max(1, math.ceil(tol * math.hypot(h, w)))
    pb = boundary(pred)
    gb = boundary(gt)
    n_p, n_g = int(pb.sum()), int(gb.sum())
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    k = _disk(r)
    g_dil = cv2.dilate(gb.astype(np.uint8), k) > 0
    p_dil = cv2.dilate(pb.astype(np.uint8), k) > 0
    precision = float((pb & g_dil).sum()) / n_p
    recall = float((gb & p_dil).sum()) / n_g
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def flicker(masks: list[np.ndarray], background: np.ndarray) -> float:
    """Mean absolute frame-to-frame change of soft masks inside a region that stays background."""
    if len(masks) < 2:
        return 0.0
    region = background.astype(bool)
    diffs = [np.abs(masks[i].astype(np.float32) - masks[i - 1].astype(np.float32))[region].mean()
             for i in range(1, len(masks))]
    return float(np.mean(diffs))


def band(mask: np.ndarray, inner: int, outer: int) -> np.ndarray:
    """Pixels outside `mask` at a distance in [inner, outer] pixels from it."""
    outside = (mask == 0).astype(np.uint8)
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, 5)
    return (dist >= inner) & (dist <= outer)


def edge_band(mask: np.ndarray, inside: float, outside: float) -> np.ndarray:
    """Pixels within `inside` px inside the outline of a binary mask or `outside` px outside it."""
    m = (mask > 0).astype(np.uint8)
    din = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    dout = cv2.distanceTransform(1 - m, cv2.DIST_L2, 5)
    return ((m == 1) & (din <= inside)) | ((m == 0) & (dout <= outside))


def spill(out: np.ndarray, ideal: np.ndarray, region: np.ndarray, screen_bgr, grey: float) -> np.ndarray:
    """Old-background colour left in an output, per pixel of `region`: (out - ideal) projected on the screen's
    chroma direction (screen - grey with its grey component removed, normalised, so a darker or lighter edge
    does not count), positive part. Grey levels."""
    v = np.asarray(screen_bgr, np.float32) - np.float32(grey)
    v -= v.mean()
    v /= np.linalg.norm(v)
    d = (out.astype(np.float32) - ideal.astype(np.float32)) @ v
    return np.maximum(d[region], 0.0)


def summarize(values) -> dict:
    a = np.asarray(values, dtype=np.float64)
    return {"median": round(float(np.median(a)), 4), "p95": round(float(np.percentile(a, 95)), 4)}
