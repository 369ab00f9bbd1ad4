"""CpuRenderer: the numpy/OpenCV twin of the GLSL passes (same maths, see studio.effects), and the oracle
that every shader is tested against. Frames are BGR uint8; masks float32 in [0, 1]."""
from __future__ import annotations

import time

import cv2
import numpy as np

from studio.effects import (MASK_TINT_BGR, TAPS, TEMPORAL_EDGES, EffectPlan, fit_cover, grid_sample, make_plan)
from studio.settings import EffectSettings


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) * (1.0 / (e1 - e0)), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def temporal(prev: np.ndarray | None, raw: np.ndarray, smoothing: float) -> np.ndarray:
    if prev is None or smoothing <= 0 or prev.shape != raw.shape:
        return raw.astype(np.float32, copy=True)
    d = raw - prev
    a = (1.0 - smoothing) + smoothing * smoothstep(*TEMPORAL_EDGES, np.abs(d))
    return (prev + a * d).astype(np.float32)


def joint_bilateral(mask: np.ndarray, guide: np.ndarray, plan: EffectPlan) -> np.ndarray:
    """mask (h, w) float32 at refine resolution; guide (h, w, 3) float32 in [0, 1]."""
    h, w = mask.shape
    r = (TAPS // 2) * plan.tap_step
    gp = cv2.copyMakeBorder(guide, r, r, r, r, cv2.BORDER_REPLICATE)
    mp = cv2.copyMakeBorder(mask, r, r, r, r, cv2.BORDER_REPLICATE)
    ws = plan.space_weights
    k = np.float32(-1.0 / (2.0 * plan.sigma_color ** 2))
    num = np.zeros((h, w), np.float32)
    den = np.zeros((h, w), np.float32)
    d = np.empty_like(guide)
    d2 = np.empty((h, w), np.float32)
    for iy in range(TAPS):
        oy = r + (iy - TAPS // 2) * plan.tap_step
        for ix in range(TAPS):
            ox = r + (ix - TAPS // 2) * plan.tap_step
            np.subtract(gp[oy:oy + h, ox:ox + w], guide, out=d)
            np.einsum("ijk,ijk->ij", d, d, out=d2)
            d2 *= k
            np.exp(d2, out=d2)
            d2 *= ws[iy, ix]
            den += d2
            d2 *= mp[oy:oy + h, ox:ox + w]
            num += d2
    return num / den


def coc_weights(weight_b: np.ndarray, plan: EffectPlan) -> list[np.ndarray]:
    """Per-distance tap weight maps W_j = clamp(C - j + 1, 0, 1) * (0.05 + C / cmax), j = 0..K."""
    if plan.cmax <= 0:
        return [np.ones_like(weight_b)]
    c = plan.cmax * (1.0 - weight_b)
    g = 0.05 + c * (1.0 / plan.cmax)
    return [np.clip(c - (j - 1.0), 0.0, 1.0) * g for j in range(plan.coc_taps + 1)]


def _coc_pass(img: np.ndarray, wj: list[np.ndarray], axis: int) -> np.ndarray:
    """One separable gather pass along `axis` (1 = horizontal, 0 = vertical), clamp-to-edge."""
    h, w = img.shape[:2]
    K = len(wj) - 1
    acc = np.zeros((h, w, 4), np.float32)
    pad = [(0, 0), (0, 0), (0, 0)]
    pad[axis] = (K, K)
    layers = []
    for j in range(K + 1):
        p = np.empty((h, w, 4), np.float32)
        np.multiply(img, wj[j][..., None], out=p[..., :3])
        p[..., 3] = wj[j]
        layers.append(np.pad(p, pad, mode="edge") if K else p)
    n = w if axis == 1 else h
    for k in range(-K, K + 1):
        src = layers[abs(k)]
        if axis == 1:
            acc += src[:, K + k:K + k + n]
        else:
            acc += src[K + k:K + k + n]
    return acc[..., :3] / acc[..., 3:4]


def coc_blur(small: np.ndarray, weight_b: np.ndarray, plan: EffectPlan) -> np.ndarray:
    wj = coc_weights(weight_b, plan)
    hpass = _coc_pass(small, wj, axis=1)
    return _coc_pass(hpass, wj, axis=0)


class CpuRenderer:
    """Stateful (temporal smoothing); one per stream. Call render() from one thread at a time."""

    name = "cpu"

    def __init__(self, settings: EffectSettings | None = None):
        self.settings = settings or EffectSettings()
        self._state: np.ndarray | None = None
        self._bg_key = None
        self._bg = None
        self.last_weight: np.ndarray | None = None  # refined blend weight at refine resolution (for panels)
        self.timings: dict[str, float] = {}

    def reset(self) -> None:
        self._state = None

    def set_background(self, image: np.ndarray | None) -> None:
        """Replacement background (BGR uint8, any size) or None; video backgrounds call this per frame."""
        self._bg = image
        self._bg_key = None

    # -- passes ---------------------------------------------------------------------------------------------
    def refine(self, frame: np.ndarray, mask: np.ndarray, plan: EffectPlan) -> np.ndarray:
        """Temporal smoothing (mask res) then joint bilateral (refine res) then coverage: blend weight."""
        self._state = temporal(self._state, mask, plan.smoothing)
        up = cv2.resize(self._state, (plan.refine_w, plan.refine_h), interpolation=cv2.INTER_LINEAR)
        if plan.refine:
            guide = grid_sample(frame, plan.refine_w, plan.refine_h).astype(np.float32) * np.float32(1 / 255)
            up = joint_bilateral(up, guide, plan)
        return smoothstep(plan.coverage[0], plan.coverage[1], up).astype(np.float32)

    def render(self, frame: np.ndarray, mask: np.ndarray, settings: EffectSettings | None = None) -> np.ndarray:
        s = settings or self.settings
        fh, fw = frame.shape[:2]
        plan = make_plan(s, (fw, fh), (mask.shape[1], mask.shape[0]))
        t0 = time.perf_counter()
        weight = self.refine(frame, mask, plan)
        self.last_weight = weight
        t1 = time.perf_counter()
        if s.mode == "none":
            out = frame.copy()
        elif s.mode == "mask":
            out = self._overlay(frame, weight, plan)
        elif s.mode == "blur":
            out = self._blur(frame, weight, plan)
        else:
            out = self._replace(frame, weight, plan, s)
        t2 = time.perf_counter()
        self.timings = {"refine": (t1 - t0) * 1e3, "render": (t2 - t1) * 1e3}
        return out

    def _upsampled_weight(self, weight: np.ndarray, plan: EffectPlan) -> np.ndarray:
        return cv2.resize(weight, (plan.frame_w, plan.frame_h), interpolation=cv2.INTER_LINEAR)

    def _overlay(self, frame, weight, plan):
        a = self._upsampled_weight(weight, plan)[..., None] * np.float32(0.5)
        tint = np.array(MASK_TINT_BGR, np.float32) * 255
        out = frame.astype(np.float32) * (1 - a) + tint * a
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def _blur(self, frame, weight, plan):
        small = grid_sample(frame, plan.blur_w, plan.blur_h).astype(np.float32) * np.float32(1 / 255)
        wb = cv2.resize(weight, (plan.blur_w, plan.blur_h), interpolation=cv2.INTER_LINEAR)
        blurred = coc_blur(small, wb, plan)
        bg = cv2.resize(blurred, (plan.frame_w, plan.frame_h), interpolation=cv2.INTER_LINEAR)
        a = self._upsampled_weight(weight, plan)
        out = bg * np.float32(255)
        out += (frame - out) * a[..., None]
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def _background(self, plan: EffectPlan):
        key = (plan.frame_w, plan.frame_h, id(self._bg))
        if self._bg_key != key:
            if self._bg is None:
                self._fitted = np.zeros((plan.frame_h, plan.frame_w, 3), np.uint8)
            else:
                self._fitted = fit_cover(self._bg, plan.frame_w, plan.frame_h)
            self._bg_key = key
        return self._fitted

    def _replace(self, frame, weight, plan, s):
        bg = self._background(plan)
        a = self._upsampled_weight(weight, plan)[..., None]
        f = frame.astype(np.float32) * np.float32(1 / 255)
        if plan.wrap_strength > 0 and len(plan.wrap_kernel) > 1:
            wb = cv2.resize(weight, (plan.blur_w, plan.blur_h), interpolation=cv2.INTER_LINEAR)
            x = np.empty((plan.blur_h, plan.blur_w, 4), np.float32)
            x[..., :3] = grid_sample(bg, plan.blur_w, plan.blur_h).astype(np.float32) * np.float32(1 / 255)
            x[..., 3] = 1.0 - wb
            k = plan.wrap_kernel
            xb = cv2.sepFilter2D(x, -1, k, k, borderType=cv2.BORDER_REPLICATE)
            e = wb * xb[..., 3] * np.float32(plan.wrap_strength)
            light = cv2.resize(xb[..., :3], (plan.frame_w, plan.frame_h), interpolation=cv2.INTER_LINEAR)
            e_up = cv2.resize(e, (plan.frame_w, plan.frame_h), interpolation=cv2.INTER_LINEAR)[..., None]
            if plan.wrap_add:
                lit = np.minimum(f + light, 1.0)
            else:
                lit = 1.0 - (1.0 - f) * (1.0 - light)
            f = f + (lit - f) * e_up
        b = bg.astype(np.float32) * np.float32(1 / 255)
        out = (b + (f - b) * a) * np.float32(255)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
