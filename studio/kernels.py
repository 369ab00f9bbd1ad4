"""Compiled inner loops of the CPU renderer (numba, cached on disk). Each mirrors one GLSL pass line for line.

Bilinear sampling follows OpenCV INTER_LINEAR / GL_LINEAR at pixel centres: sx = (x + 0.5) * S / D - 0.5,
clamped to the edge. Full-resolution passes interpolate the two low-res rows they need once per output row and
never allocate full-resolution temporaries: the composite reads the frame once and writes the output once."""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def lerp_table(dst: int, src: int):
    i0 = np.empty(dst, np.int32)
    i1 = np.empty(dst, np.int32)
    f = np.empty(dst, np.float32)
    scale = src / dst
    for x in range(dst):
        s = (x + 0.5) * scale - 0.5
        if s < 0.0:
            s = 0.0
        a = int(math.floor(s))
        if a > src - 1:
            a = src - 1
        b = a + 1 if a + 1 < src else src - 1
        i0[x] = a
        i1[x] = b
        f[x] = s - a
    return i0, i1, f


@njit(cache=True, nogil=True)
def _smooth(e0, e1, x):
    t = (x - e0) / (e1 - e0)
    if t < 0.0:
        t = 0.0
    elif t > 1.0:
        t = 1.0
    return t * t * (3.0 - 2.0 * t)


@njit(cache=True, fastmath=True, nogil=True)
def refine(mask, guide, refine_on, step, sigma_s, sigma_c, cov_lo, cov_hi, taps):
    """mask (h, w) f32 at refine resolution (already upsampled), guide (h, w, 3) u8 -> weight (h, w) f32."""
    h, w = mask.shape
    out = np.empty((h, w), np.float32)
    if not refine_on:
        for y in range(h):
            for x in range(w):
                out[y, x] = _smooth(cov_lo, cov_hi, mask[y, x])
        return out
    r = taps // 2
    ks = np.float32(-1.0 / (2.0 * sigma_s * sigma_s))
    kc = np.float32(-1.0 / (2.0 * sigma_c * sigma_c) / (255.0 * 255.0))
    ws = np.empty((taps, taps), np.float32)
    for iy in range(taps):
        for ix in range(taps):
            dy = (iy - r) * step
            dx = (ix - r) * step
            ws[iy, ix] = math.exp((dx * dx + dy * dy) * ks)
    # guide values are integers, so |dG|^2 is an integer: tabulate exp(kc * d2) exactly up to exp(-30)
    n_lut = min(3 * 255 * 255 + 1, int(30.0 / -kc) + 2)
    lut = np.empty(n_lut, np.float32)
    for i in range(n_lut):
        lut[i] = math.exp(i * kc)
    for y in range(h):
        for x in range(w):
            g0 = np.int32(guide[y, x, 0])
            g1 = np.int32(guide[y, x, 1])
            g2 = np.int32(guide[y, x, 2])
            num = np.float32(0.0)
            den = np.float32(0.0)
            for iy in range(taps):
                qy = min(max(y + (iy - r) * step, 0), h - 1)
                for ix in range(taps):
                    qx = min(max(x + (ix - r) * step, 0), w - 1)
                    d0 = np.int32(guide[qy, qx, 0]) - g0
                    d1 = np.int32(guide[qy, qx, 1]) - g1
                    d2 = np.int32(guide[qy, qx, 2]) - g2
                    dd = d0 * d0 + d1 * d1 + d2 * d2
                    if dd >= n_lut:
                        continue
                    wt = ws[iy, ix] * lut[dd]
                    num += wt * mask[qy, qx]
                    den += wt
            out[y, x] = _smooth(cov_lo, cov_hi, num / den)
    return out


@njit(cache=True, nogil=True)
def resample_weight(weight, w, h):
    """Bilinear resize of a weight map to (w, h)."""
    sh, sw = weight.shape
    xi0, xi1, xf = lerp_table(w, sw)
    yi0, yi1, yf = lerp_table(h, sh)
    out = np.empty((h, w), np.float32)
    for y in range(h):
        a, b, fy = yi0[y], yi1[y], yf[y]
        for x in range(w):
            top = weight[a, xi0[x]] + (weight[a, xi1[x]] - weight[a, xi0[x]]) * xf[x]
            bot = weight[b, xi0[x]] + (weight[b, xi1[x]] - weight[b, xi0[x]]) * xf[x]
            out[y, x] = top + (bot - top) * fy
    return out


@njit(cache=True, fastmath=True, nogil=True)
def coc_blur(small, wb, cmax, K):
    """Both separable CoC passes. small (h, w, 3) u8 at blur resolution, wb (h, w) person weight."""
    h, w = wb.shape
    out = np.empty((h, w, 3), np.float32)
    if cmax <= 0.0:
        for y in range(h):
            for x in range(w):
                for c in range(3):
                    out[y, x, c] = small[y, x, c] / 255.0
        return out
    W = np.empty((K + 1, h, w), np.float32)
    for y in range(h):
        for x in range(w):
            coc = cmax * (1.0 - wb[y, x])
            g = 0.05 + coc / cmax
            for j in range(K + 1):
                t = coc - j + 1.0
                W[j, y, x] = (0.0 if t < 0.0 else (1.0 if t > 1.0 else t)) * g
    tmp = np.empty((h, w, 3), np.float32)
    for y in range(h):
        for x in range(w):
            a0 = np.float32(0.0)
            a1 = np.float32(0.0)
            a2 = np.float32(0.0)
            den = np.float32(0.0)
            for k in range(-K, K + 1):
                q = min(max(x + k, 0), w - 1)
                wt = W[abs(k), y, q]
                a0 += wt * small[y, q, 0]
                a1 += wt * small[y, q, 1]
                a2 += wt * small[y, q, 2]
                den += wt
            s = np.float32(1.0 / 255.0) / den
            tmp[y, x, 0] = a0 * s
            tmp[y, x, 1] = a1 * s
            tmp[y, x, 2] = a2 * s
    for y in range(h):
        for x in range(w):
            a0 = np.float32(0.0)
            a1 = np.float32(0.0)
            a2 = np.float32(0.0)
            den = np.float32(0.0)
            for k in range(-K, K + 1):
                q = min(max(y + k, 0), h - 1)
                wt = W[abs(k), q, x]
                a0 += wt * tmp[q, x, 0]
                a1 += wt * tmp[q, x, 1]
                a2 += wt * tmp[q, x, 2]
                den += wt
            out[y, x, 0] = a0 / den
            out[y, x, 1] = a1 / den
            out[y, x, 2] = a2 / den
    return out


@njit(cache=True, nogil=True)
def _hrow(src, row, xi0, xi1, xf, out):
    """Horizontally interpolate one low-res row (n channels) to full width."""
    n = src.shape[2]
    for x in range(out.shape[0]):
        a, b, f = xi0[x], xi1[x], xf[x]
        for c in range(n):
            out[x, c] = src[row, a, c] + (src[row, b, c] - src[row, a, c]) * f


@njit(cache=True, fastmath=True, nogil=True)
def composite(frame, weight, low, bg, mode, wrap_add, tint):
    """Full-resolution composite, one output row at a time from two interpolated low-res rows.

    mode 0 none, 1 blur (low = blurred frame (h, w, 3) in [0,1]), 2 replace (bg full-res u8; low = wrap
    (h, w, 4): light rgb and e, or an empty array for no wrap), 3 mask overlay. weight at refine resolution."""
    H, W_ = frame.shape[0], frame.shape[1]
    out = np.empty((H, W_, 3), np.uint8)
    wh, ww = weight.shape
    w3 = weight.reshape((wh, ww, 1))
    wx0, wx1, wxf = lerp_table(W_, ww)
    wy0, wy1, wyf = lerp_table(H, wh)
    wa = np.empty((W_, 1), np.float32)
    wb_ = np.empty((W_, 1), np.float32)
    arow = np.empty(W_, np.float32)
    has_low = low.shape[0] > 0
    lc = low.shape[2] if has_low else 1
    lh, lw = (low.shape[0], low.shape[1]) if has_low else (1, 1)
    lx0, lx1, lxf = lerp_table(W_, lw)
    ly0, ly1, lyf = lerp_table(H, lh)
    la = np.empty((W_, lc), np.float32)
    lb = np.empty((W_, lc), np.float32)
    lrow = np.empty((W_, lc), np.float32)
    pw0 = -1
    pw1 = -1
    pl0 = -1
    pl1 = -1
    inv = np.float32(1.0 / 255.0)
    for y in range(H):
        if wy0[y] != pw0 or wy1[y] != pw1:
            _hrow(w3, wy0[y], wx0, wx1, wxf, wa)
            _hrow(w3, wy1[y], wx0, wx1, wxf, wb_)
            pw0 = wy0[y]
            pw1 = wy1[y]
        fy = wyf[y]
        for x in range(W_):
            arow[x] = wa[x, 0] + (wb_[x, 0] - wa[x, 0]) * fy
        if has_low:
            if ly0[y] != pl0 or ly1[y] != pl1:
                _hrow(low, ly0[y], lx0, lx1, lxf, la)
                _hrow(low, ly1[y], lx0, lx1, lxf, lb)
                pl0 = ly0[y]
                pl1 = ly1[y]
            gy = lyf[y]
            for x in range(W_):
                for c in range(lc):
                    lrow[x, c] = la[x, c] + (lb[x, c] - la[x, c]) * gy
        fr = frame[y]
        orow = out[y]
        if mode == 1:
            for x in range(W_):
                a = arow[x]
                for c in range(3):
                    b = lrow[x, c] * np.float32(255.0)
                    v = b + (np.float32(fr[x, c]) - b) * a + np.float32(0.5)
                    orow[x, c] = np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)))
        elif mode == 2:
            bgr = bg[y]
            for x in range(W_):
                a = arow[x]
                for c in range(3):
                    f = np.float32(fr[x, c]) * inv
                    if has_low:
                        light = lrow[x, c]
                        e = lrow[x, 3]
                        if wrap_add:
                            lit = min(f + light, np.float32(1.0))
                        else:
                            lit = np.float32(1.0) - (np.float32(1.0) - f) * (np.float32(1.0) - light)
                        f = f + (lit - f) * e
                    b = np.float32(bgr[x, c]) * inv
                    v = (b + (f - b) * a) * np.float32(255.0) + np.float32(0.5)
                    orow[x, c] = np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)))
        elif mode == 3:
            for x in range(W_):
                hh = np.float32(0.5) * arow[x]
                for c in range(3):
                    v = np.float32(fr[x, c]) * (np.float32(1.0) - hh) + tint[c] * np.float32(255.0) * hh
                    v = v + np.float32(0.5)
                    orow[x, c] = np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)))
        else:
            orow[:, :] = fr
    return out
