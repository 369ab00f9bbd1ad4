"""Compiled inner loops of the CPU renderer (numba, cached on disk). Each mirrors one GLSL pass line for line.

Bilinear sampling follows OpenCV INTER_LINEAR / GL_LINEAR at pixel centres: sx = (x + 0.5) * S / D - 0.5,
clamped to the edge. Full-resolution passes interpolate the two low-res rows they need once per output row and
never allocate full-resolution temporaries: the composite reads the frame once and writes the output once."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from studio.render.effects import BILATERAL_CUTOFF, COC_FLOOR, FG_CONF  # compile-time constants in the kernels


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


@njit(cache=True, nogil=True, fastmath=True)
def temporal(prev, raw, smoothing, e0, e1):
    """One step of the temporal smoothing (effects.py): the mask follows a large change at once and damps a
    small one. prev, raw (h, w) float32; one pass, where numpy took eight (0.1 ms at 320x176)."""
    h, w = raw.shape
    out = np.empty((h, w), np.float32)
    keep = np.float32(1.0) - smoothing
    for y in range(h):
        for x in range(w):
            p = prev[y, x]
            d = raw[y, x] - p
            out[y, x] = p + (keep + smoothing * _smooth(e0, e1, abs(d))) * d
    return out


@njit(cache=True, nogil=True, fastmath=True)
def _bilateral_tap(num, den, p0, p1, p2, q0, q1, q2, mq, ws, lut):
    last = lut.shape[0] - 1
    for i in range(num.shape[0]):
        d0 = q0[i] - p0[i]
        d1 = q1[i] - p1[i]
        d2 = q2[i] - p2[i]
        wt = ws * lut[min(d0 * d0 + d1 * d1 + d2 * d2, last)]
        num[i] += wt * mq[i]
        den[i] += wt


@njit(cache=True, nogil=True, fastmath=True)
def _coverage(out, num, den, lo, hi):
    for i in range(out.shape[0]):
        t = (num[i] / den[i] - lo) / (hi - lo)
        t = min(max(t, np.float32(0.0)), np.float32(1.0))
        out[i] = t * t * (np.float32(3.0) - np.float32(2.0) * t)


@njit(cache=True, fastmath=True, nogil=True)
def refine(mask, guide, refine_on, step, sigma_s, sigma_c, cov_lo, cov_hi, taps):
    """Separable joint bilateral (horizontal taps, then vertical taps on the result) + coverage. mask (h, w)
    f32 at refine resolution (already upsampled), guide (h, w, 3) u8 at the same size -> blend weight (h, w).
    Planar, edge-padded, flattened buffers: each tap is one long loop."""
    h, w = mask.shape
    out = np.empty((h, w), np.float32)
    if not refine_on:
        for y in range(h):
            for x in range(w):
                out[y, x] = _smooth(cov_lo, cov_hi, mask[y, x])
        return out
    r = (taps // 2) * step
    wp = w + 2 * r
    hp = h + 2 * r
    n = hp * wp
    g = np.empty((3, n), np.int32)
    m = np.empty(n, np.float32)
    for yy in range(hp):
        y = min(max(yy - r, 0), h - 1)
        for xx in range(wp):
            x = min(max(xx - r, 0), w - 1)
            i = yy * wp + xx
            g[0, i] = guide[y, x, 0]
            g[1, i] = guide[y, x, 1]
            g[2, i] = guide[y, x, 2]
            m[i] = mask[y, x]
    ks = np.float32(-1.0 / (2.0 * sigma_s * sigma_s))
    kc = -1.0 / (2.0 * sigma_c * sigma_c) / (255.0 * 255.0)
    # guide values are integers, so |dG|^2 is an integer: tabulate exp(kc * d2) exactly down to exp(-30);
    # the last entry is 0 and takes every larger distance
    n_lut = min(3 * 255 * 255 + 1, int(BILATERAL_CUTOFF / -kc) + 2)
    lut = np.empty(n_lut, np.float32)
    for i in range(n_lut - 1):
        lut[i] = np.exp(i * kc)
    lut[n_lut - 1] = 0.0
    # separable: horizontal taps over every padded row, then vertical taps over the output rows
    for axis in range(2):
        if axis == 0:
            lo, hi, unit = r, n - r, 1
        else:
            lo, hi, unit = r * wp, (r + h) * wp, wp
        num = np.zeros(hi - lo, np.float32)
        den = np.zeros(hi - lo, np.float32)
        for it in range(taps):
            d = (it - taps // 2) * step
            ws = np.float32(np.exp(np.float32(d * d) * ks))
            o = d * unit
            _bilateral_tap(num, den, g[0, lo:hi], g[1, lo:hi], g[2, lo:hi], g[0, lo + o:hi + o],
                           g[1, lo + o:hi + o], g[2, lo + o:hi + o], m[lo + o:hi + o], ws, lut)
        if axis == 0:
            _div(m[lo:hi], num, den)
            for yy in range(hp):   # re-pad the filtered rows' edge columns (clamp-to-edge for the next pass)
                row = yy * wp
                for xx in range(r):
                    m[row + xx] = m[row + r]
                    m[row + wp - 1 - xx] = m[row + wp - 1 - r]
    flat = np.empty(hi - lo, np.float32)
    _coverage(flat, num, den, cov_lo, cov_hi)
    for y in range(h):
        base = y * wp + r
        for x in range(w):
            out[y, x] = flat[base + x]
    return out


# Small flat helpers: numba/LLVM vectorises `for i in range(a.shape[0])` over whole 1-D slices passed as
# arguments, but not loops with offset indices (a[i] += b[i + k]); so every hot loop goes through these.
@njit(cache=True, nogil=True, fastmath=True)
def _coc_centre(den, a0, a1, a2, C, c0, c1, c2, rc):
    """The centre tap of the CoC blur (j = 0: clamp(C + 1, 0, 1) = 1), which starts the sums."""
    for i in range(den.shape[0]):
        wi = np.float32(COC_FLOOR) + C[i] * rc
        den[i] = wi
        a0[i] = wi * c0[i]
        a1[i] = wi * c1[i]
        a2[i] = wi * c2[i]


@njit(cache=True, nogil=True, fastmath=True)
def _coc_pair(den, a0, a1, a2, C, c0, c1, c2, D, d0, d1, d2, j, rc):
    """The two taps at distance j (before and after): each one's weight from the circle of confusion of the
    pixel read (clamp(C - j + 1, 0, 1) * (COC_FLOOR + C / cmax), computed here rather than read from a table),
    and the weighted colours, in one pass over the row: the sums are read and written once per two taps."""
    jj = np.float32(j) - np.float32(1.0)
    for i in range(den.shape[0]):
        ci = C[i]
        wi = min(max(ci - jj, np.float32(0.0)), np.float32(1.0)) * (np.float32(COC_FLOOR) + ci * rc)
        di = D[i]
        wd = min(max(di - jj, np.float32(0.0)), np.float32(1.0)) * (np.float32(COC_FLOOR) + di * rc)
        den[i] += wi + wd
        a0[i] += wi * c0[i] + wd * d0[i]
        a1[i] += wi * c1[i] + wd * d1[i]
        a2[i] += wi * c2[i] + wd * d2[i]


@njit(cache=True, nogil=True, fastmath=True)
def _div(dst, num, den):
    for i in range(dst.shape[0]):
        dst[i] = num[i] / den[i]


@njit(cache=True, fastmath=True, nogil=True)
def coc_blur(small, wb, cmax, K):
    """Both separable CoC passes. small (h, w, 3) u8 at blur resolution, C-contiguous (cpu.coc_blur sees to it),
    wb (h, w) person weight in [0, 1] (the centre tap's clamp(C + 1, 0, 1) is taken as 1).

    The horizontal pass reads each row edge-padded by K in a row buffer (in the L1 cache) and writes planar rows
    for the rows the vertical pass reads (K more above and below, clamped to the edge); the vertical pass reads
    whole rows of those. Each tap's weight is computed from C where it is read: no table of weights. Per pixel
    the centre tap starts the sums and the two taps at each distance are added together (the sums touched once
    per pair), and the row buffer is filled by a contiguous loop, its edge pads apart: 1.0 -> 0.7 ms at 320x180
    hot, within 1e-6 of summing tap by tap (a shader's order), which moves a few 8-bit roundings by one."""
    h, w = wb.shape
    out = np.empty((h, w, 3), np.float32)
    inv = np.float32(1.0 / 255.0)
    if cmax <= 0.0:
        for y in range(h):
            for x in range(w):
                for c in range(3):
                    out[y, x, c] = small[y, x, c] * inv
        return out
    hp, wp = h + 2 * K, w + 2 * K
    C = np.empty((hp, w), np.float32)        # each padded row's C, for the vertical pass
    Hc = np.empty((3, hp, w), np.float32)    # the horizontal pass's colours, planar
    rowC = np.empty(wp, np.float32)
    rowc = np.empty((3, wp), np.float32)
    den = np.empty(w, np.float32)
    acc = np.empty((3, w), np.float32)
    rc = np.float32(1.0) / cmax
    flat = small.reshape(h, w * 3)
    mC, m0, m1, m2 = rowC[K:K + w], rowc[0, K:K + w], rowc[1, K:K + w], rowc[2, K:K + w]
    for yy in range(hp):
        y = min(max(yy - K, 0), h - 1)
        wr = wb[y]
        sr = flat[y]
        for x in range(w):
            mC[x] = cmax * (np.float32(1.0) - wr[x])
            m0[x] = sr[3 * x] * inv
            m1[x] = sr[3 * x + 1] * inv
            m2[x] = sr[3 * x + 2] * inv
        for k in range(K):   # clamp to the edge
            rowC[k], rowC[K + w + k] = mC[0], mC[w - 1]
            for c in range(3):
                rowc[c, k], rowc[c, K + w + k] = rowc[c, K], rowc[c, K + w - 1]
        C[yy, :] = mC
        _coc_centre(den, acc[0], acc[1], acc[2], mC, m0, m1, m2, rc)
        for j in range(1, K + 1):
            a, b = K - j, K + j
            _coc_pair(den, acc[0], acc[1], acc[2], rowC[a:a + w], rowc[0, a:a + w], rowc[1, a:a + w],
                      rowc[2, a:a + w], rowC[b:b + w], rowc[0, b:b + w], rowc[1, b:b + w], rowc[2, b:b + w], j, rc)
        for c in range(3):
            _div(Hc[c, yy], acc[c], den)
    for y in range(h):
        r = y + K
        _coc_centre(den, acc[0], acc[1], acc[2], C[r], Hc[0, r], Hc[1, r], Hc[2, r], rc)
        for j in range(1, K + 1):
            a, b = r - j, r + j
            _coc_pair(den, acc[0], acc[1], acc[2], C[a], Hc[0, a], Hc[1, a], Hc[2, a], C[b], Hc[0, b], Hc[1, b],
                      Hc[2, b], j, rc)
        for x in range(w):
            q = np.float32(1.0) / den[x]
            out[y, x, 0] = acc[0, x] * q
            out[y, x, 1] = acc[1, x] * q
            out[y, x, 2] = acc[2, x] * q
    return out


@njit(cache=True, nogil=True, fastmath=True)
def _to_u8(v):
    return np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)))


@njit(cache=True, nogil=True, fastmath=True)
def _row_blur(o, f, wa, wb, fy, la, lb, gy):
    for i in range(o.shape[0]):
        a = wa[i] + (wb[i] - wa[i]) * fy
        b = (la[i] + (lb[i] - la[i]) * gy) * np.float32(255.0)
        o[i] = _to_u8(b + (np.float32(f[i]) - b) * a + np.float32(0.5))


@njit(cache=True, nogil=True, fastmath=True)
def _row_replace(o, f, bg, wa, wb, fy):
    for i in range(o.shape[0]):
        a = wa[i] + (wb[i] - wa[i]) * fy
        b = np.float32(bg[i])
        o[i] = _to_u8(b + (np.float32(f[i]) - b) * a + np.float32(0.5))


@njit(cache=True, nogil=True, fastmath=True)
def _row_replace_wrap(o, f, bg, wa, wb, fy, la, lb, ea, eb, gy, add):
    inv = np.float32(1.0 / 255.0)
    for i in range(o.shape[0]):
        a = wa[i] + (wb[i] - wa[i]) * fy
        ff = np.float32(f[i]) * inv
        light = la[i] + (lb[i] - la[i]) * gy
        e = ea[i] + (eb[i] - ea[i]) * gy
        if add:
            lit = min(ff + light, np.float32(1.0))
        else:
            lit = np.float32(1.0) - (np.float32(1.0) - ff) * (np.float32(1.0) - light)
        ff = (ff + (lit - ff) * e) * np.float32(255.0)
        b = np.float32(bg[i])
        o[i] = _to_u8(b + (ff - b) * a + np.float32(0.5))


@njit(cache=True, nogil=True, fastmath=True)
def _row_replace_clean(o, f, bg, wa, wb, fy, Fa, Fb, Ba, Bb, gy, Ga, Gb, ey, la, lb, ea, eb, ly, wrap_on, add,
                       spans, n_spans, idx, acs, Fv):
    """Replace with clean edges (see studio.render.effects) for the pixels near an edge: o already holds the
    plain replace of the row, which is exactly what the formula gives where the weight is 0 or 1 and the edge
    weight is 0 (the person's inside and the background away from the person), so only the rest is redone:
    first the pixels' alpha and colour into a short list, then the light wrap and the blend over that list.
    Only the pixels in `spans` (the first n_spans, [start, end) in pixels, see composite_rows) are looked at;
    idx, acs, Fv: scratch for a row's pixels."""
    inv = np.float32(1.0 / 255.0)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    m = 0
    for k in range(n_spans):
        for x in range(spans[k, 0], spans[k, 1]):
            i = 3 * x
            a = wa[i] + (wb[i] - wa[i]) * fy
            edge = Ga[i] + (Gb[i] - Ga[i]) * ey
            if edge <= zero and (a <= zero or a >= one):
                continue
            i0 = np.float32(f[i]) * inv
            i1 = np.float32(f[i + 1]) * inv
            i2 = np.float32(f[i + 2]) * inv
            f0 = Fa[i] + (Fb[i] - Fa[i]) * gy
            f1 = Fa[i + 1] + (Fb[i + 1] - Fa[i + 1]) * gy
            f2 = Fa[i + 2] + (Fb[i + 2] - Fa[i + 2]) * gy
            b0 = Ba[i] + (Bb[i] - Ba[i]) * gy
            b1 = Ba[i + 1] + (Bb[i + 1] - Ba[i + 1]) * gy
            b2 = Ba[i + 2] + (Bb[i + 2] - Ba[i + 2]) * gy
            d0 = f0 - b0
            d1 = f1 - b1
            d2 = f2 - b2
            dd = d0 * d0 + d1 * d1 + d2 * d2
            num = (i0 - b0) * d0 + (i1 - b1) * d1 + (i2 - b2) * d2
            ah = min(max(num / max(dd, np.float32(1e-6)), zero), one)
            cf = min(max(dd * np.float32(1.0 / FG_CONF), zero), one) * edge
            ac = a + (min(a, ah) - a) * cf
            r = one - ac
            idx[m] = i
            acs[m] = ac
            Fv[3 * m] = min(max(f0 + ac * (i0 - ac * f0 - r * b0), zero), one)
            Fv[3 * m + 1] = min(max(f1 + ac * (i1 - ac * f1 - r * b1), zero), one)
            Fv[3 * m + 2] = min(max(f2 + ac * (i2 - ac * f2 - r * b2), zero), one)
            m += 1
    for k in range(m):
        i = idx[k]
        ac = acs[k]
        for c in range(3):
            F = Fv[3 * k + c]
            if wrap_on:
                light = la[i + c] + (lb[i + c] - la[i + c]) * ly
                e = ea[i + c] + (eb[i + c] - ea[i + c]) * ly
                lit = min(F + light, one) if add else one - (one - F) * (one - light)
                F = F + (lit - F) * e
            b = np.float32(bg[i + c])
            o[i + c] = _to_u8(b + (F * np.float32(255.0) - b) * ac + np.float32(0.5))


@njit(cache=True, nogil=True, fastmath=True)
def _row_tint(o, f, wa, wb, fy, t3):
    for i in range(o.shape[0]):
        hh = np.float32(0.5) * (wa[i] + (wb[i] - wa[i]) * fy)
        o[i] = _to_u8(np.float32(f[i]) * (np.float32(1.0) - hh) + t3[i] * hh + np.float32(0.5))


@njit(cache=True, nogil=True)
def _moving_cells(weight):
    """The weight's cells that a pixel drawn from them may see as neither exactly 0 nor exactly 1: those with a
    value in between, or whose right or lower neighbour has another value (a pixel reads a cell and the one
    right of it, in a row and the one below it; one of the two marked is enough). A pixel whose bilinear
    neighbours are all unmarked has their common weight, 0 or 1."""
    h, w = weight.shape
    out = np.empty((h, w), np.bool_)
    for j in range(h):
        for c in range(w):
            v = weight[j, c]
            out[j, c] = ((v > 0.0 and v < 1.0) or (c + 1 < w and weight[j, c + 1] != v)
                         or (j + 1 < h and weight[j + 1, c] != v))
    return out


@njit(cache=True, nogil=True)
def _column_reach(width, cells):
    """For each of `cells` columns of a layer drawn `width` pixels wide: the pixels [lo, hi) that read it."""
    x0, x1, _ = lerp_table(width, cells)
    lo = np.full(cells, width, np.int64)
    hi = np.zeros(cells, np.int64)
    for x in range(width):
        for c in (x0[x], x1[x]):
            lo[c] = min(lo[c], x)
            hi[c] = max(hi[c], x + 1)
    return lo, hi


@njit(cache=True, nogil=True)
def _add_spans(row0, row1, lo, hi, spans, n):
    """Append to spans[:n] the pixels that read a marked cell of either layer row (ascending, merged)."""
    for c in range(row0.shape[0]):
        if (row0[c] or row1[c]) and lo[c] < hi[c]:
            if n > 0 and lo[c] <= spans[n - 1, 1]:
                spans[n - 1, 1] = max(spans[n - 1, 1], hi[c])
            else:
                spans[n, 0] = lo[c]
                spans[n, 1] = hi[c]
                n += 1
    return n


@njit(cache=True, nogil=True)
def _union_spans(a, na, b, nb, out):
    """The union of two ascending span lists as one ascending list of disjoint spans; returns its length."""
    i = j = n = 0
    while i < na or j < nb:
        if j >= nb or (i < na and a[i, 0] <= b[j, 0]):
            s, e = a[i, 0], a[i, 1]
            i += 1
        else:
            s, e = b[j, 0], b[j, 1]
            j += 1
        if n > 0 and s <= out[n - 1, 1]:
            out[n - 1, 1] = max(out[n - 1, 1], e)
        else:
            out[n, 0] = s
            out[n, 1] = e
            n += 1
    return n


@njit(cache=True, nogil=True, fastmath=True)
def composite_rows(frame, wrows, lrows, erows, bg, mode, wrap_add, tint, frows, brows, grows, weight, edge):
    """Full-resolution composite from layers already interpolated horizontally to full width (rows of W*3
    interleaved values, see cpu_renderer.expand_rows): each output row is the vertical lerp of two such rows
    and one flat, vectorised blend loop; no full-resolution temporary is allocated.

    mode 0 none, 1 blur (lrows = blurred frame in [0,1]), 2 replace (bg full-res u8; lrows/erows = light
    and e when light wrap is on, else empty; frows/brows/grows = the local person and background colours and
    the edge weight when edges are cleaned, else empty), 3 mask overlay.

    weight, edge: the layers wrows and grows were expanded from, when edges are cleaned: only the pixels that
    read a cell of the weight that is not plainly 0 or 1, or a cell of the edge band, take the clean-edge
    maths (the rest is skipped exactly as a look at every pixel skips it; a 720p row was 2.5 ms of looking).
    Empty: every pixel is looked at."""
    H, W_ = frame.shape[0], frame.shape[1]
    N = W_ * 3
    out = np.empty((H, W_, 3), np.uint8)
    wy0, wy1, wyf = lerp_table(H, wrows.shape[0])
    has_low = lrows.shape[0] > 0
    ly0, ly1, lyf = lerp_table(H, max(1, lrows.shape[0]))
    fy0, fy1, fyf = lerp_table(H, max(1, frows.shape[0]))
    ey0, ey1, eyf = lerp_table(H, max(1, grows.shape[0]))
    t3 = np.empty(N, np.float32)
    for x in range(W_):
        for c in range(3):
            t3[x * 3 + c] = tint[c] * np.float32(255.0)
    cleaning = mode == 2 and frows.shape[0] > 0
    idx = np.empty(W_ if cleaning else 0, np.int64)      # the clean-edge rows' scratch, allocated once
    acs = np.empty(W_ if cleaning else 0, np.float32)
    Fv = np.empty(N if cleaning else 0, np.float32)
    spans = np.empty((W_ + 1, 2), np.int64)
    n_spans = 1
    spans[0, 0] = 0
    spans[0, 1] = W_
    banded = cleaning and weight.shape[0] > 0
    if banded:
        moving, band = _moving_cells(weight), edge > 0.0
        wlo, whi = _column_reach(W_, weight.shape[1])
        elo, ehi = _column_reach(W_, edge.shape[1])
        wspans = np.empty((weight.shape[1] + 1, 2), np.int64)
        espans = np.empty((edge.shape[1] + 1, 2), np.int64)
    for y in range(H):
        wa = wrows[wy0[y]]
        wb = wrows[wy1[y]]
        fy = wyf[y]
        fr = frame[y].reshape(N)
        orow = out[y].reshape(N)
        if mode == 1:
            _row_blur(orow, fr, wa, wb, fy, lrows[ly0[y]], lrows[ly1[y]], lyf[y])
        elif cleaning:
            gy0, gy1, gyf = fy0[y], fy1[y], fyf[y]
            e0, e1, ef = ey0[y], ey1[y], eyf[y]
            if banded and (y == 0 or wy0[y] != wy0[y - 1] or wy1[y] != wy1[y - 1] or e0 != ey0[y - 1]
                           or e1 != ey1[y - 1]):   # rows that read the same layer rows share their spans
                nw = _add_spans(moving[wy0[y]], moving[wy1[y]], wlo, whi, wspans, 0)
                ne = _add_spans(band[e0], band[e1], elo, ehi, espans, 0)
                n_spans = _union_spans(wspans, nw, espans, ne, spans)
            if has_low:
                _row_replace_wrap(orow, fr, bg[y].reshape(N), wa, wb, fy, lrows[ly0[y]], lrows[ly1[y]],
                                  erows[ly0[y]], erows[ly1[y]], lyf[y], wrap_add)
                _row_replace_clean(orow, fr, bg[y].reshape(N), wa, wb, fy, frows[gy0], frows[gy1], brows[gy0],
                                   brows[gy1], gyf, grows[e0], grows[e1], ef, lrows[ly0[y]], lrows[ly1[y]],
                                   erows[ly0[y]], erows[ly1[y]], lyf[y], True, wrap_add,
                                   spans, n_spans, idx, acs, Fv)
            else:
                _row_replace(orow, fr, bg[y].reshape(N), wa, wb, fy)
                _row_replace_clean(orow, fr, bg[y].reshape(N), wa, wb, fy, frows[gy0], frows[gy1], brows[gy0],
                                   brows[gy1], gyf, grows[e0], grows[e1], ef, frows[gy0], frows[gy1],
                                   frows[gy0], frows[gy1], gyf, False, wrap_add,
                                   spans, n_spans, idx, acs, Fv)
        elif mode == 2:
            if has_low:
                _row_replace_wrap(orow, fr, bg[y].reshape(N), wa, wb, fy, lrows[ly0[y]], lrows[ly1[y]],
                                  erows[ly0[y]], erows[ly1[y]], lyf[y], wrap_add)
            else:
                _row_replace(orow, fr, bg[y].reshape(N), wa, wb, fy)
        elif mode == 3:
            _row_tint(orow, fr, wa, wb, fy, t3)
        else:
            orow[:] = fr
    return out
