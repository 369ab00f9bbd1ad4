"""The effect maths shared by both renderers: sizes, kernels and constants derived from EffectSettings.

Both the GLSL passes and the CPU twin read their parameters from an EffectPlan, so the two cannot drift apart.
Definitions (all colours in [0, 1]):
  temporal:  a = (1 - s) + s * smoothstep(0.3, 0.6, |raw - prev|);  state = prev + a * (raw - prev)
  refine:    separable joint bilateral: along x, then along y on that result,
             R(p) = sum_q ws(q-p) wc(p,q) S(q) / sum_q ws wc over 5 taps spaced `tap_step` refine pixels,
             ws = exp(-d^2 / 2 sigma_s^2), wc = exp(-|G(p)-G(q)|^2 / 2 sigma_c^2) with G the guide image in 8-bit
             steps (weights below exp(-30) are 0); weight = smoothstep(coverage_lo, coverage_hi, R)
  blur:      C = cmax * (1 - weight) at blur resolution; tap q at distance j from p has weight
             clamp(C(q) - j + 1, 0, 1) * (0.05 + C(q) / cmax): a tap only reaches as far as its own circle of
             confusion and sharp (person) taps weigh almost nothing, so the person cannot bleed outward.
             Horizontal then vertical, clamp-to-edge.
  composite: out = frame * w + background * (1 - w), w and background bilinearly upsampled.
  clean edges (replace mode): the frame's colour at the person's edge is a mix I = a F + (1 - a) B of the
             person's F and the old background's B. At half the blur resolution, wi = G_inner * w; the local
             person and background colours are Gaussian means weighted by the confident inside and outside,
             Fs = G * (I wF) / G * wF with wF = clamp(2 wi - 1)^2, Bs likewise with wB = clamp(1 - 2 wi)^2
             (after Forte & Pitie 2021, "blur fusion"). At blur resolution, a narrow edge band:
             edge = clamp(FG_EDGE_GAIN ws (1 - ws)) with ws = G_edge * w, 0 under FG_EDGE_MIN.
             Per output pixel: d = Fs - Bs, ah = clamp(dot(I - Bs, d) / |d|^2) (how far the colour lies from
             Bs towards Fs), c = clamp(|d|^2 / FG_CONF) * edge, a' = a + (min(a, ah) - a) * c;
             F = clamp(Fs + a' (I - a' Fs - (1 - a') Bs)); then light wrap on F, and out = F a' + B' (1 - a')
             with B' the new background. The band is narrow (a few pixels) on purpose: wider, the colour's
             own alpha made the inside of a face translucent where skin was close to a white wall.
  light wrap: at blur resolution, L = G_sigma * background, inv = G_sigma * (1 - w); e = w * inv;
             person' = person + (blend(person, L) - person) * strength * e, blend = screen or add.
Image downsampling ("grid sampling") everywhere is the mean of a 2x2 grid of exact-centre samples per output
pixel, which a shader reproduces with four texelFetch calls and OpenCV with INTER_NEAREST_EXACT + INTER_AREA.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from studio.imageops import fit_cover
from studio.settings import EffectSettings

TAPS = 5  # refine kernel is TAPS x TAPS
TEMPORAL_EDGES = (0.3, 0.6)  # |change| above which the mask follows at once (tuned on lucia-video)
MASK_TINT_BGR = (0.35, 0.95, 0.2)
COC_FLOOR = 0.05             # a tap's weight: clamp(...) * (COC_FLOOR + C / cmax): sharp taps weigh almost nothing
BILATERAL_CUTOFF = 30.0      # joint bilateral colour weights below exp(-30) are 0
LETTERBOX_RGB = (0.09, 0.09, 0.1)
FG_SIGMA_PX = 32.0           # clean edges: the local colour means' Gaussian, output pixels
FG_INNER_PX = 8.0            # the weight's Gaussian that tells confident inside, outside and the edge band
FG_EDGE_PX = 2.0             # the weight's Gaussian that draws the narrow edge band, output pixels
FG_EDGE_GAIN = 4.0           # edge = clamp(gain ws (1 - ws)): 1 on the mask's own transition
FG_EDGE_MIN = 0.05           # edge weights under this are 0, so the band that takes the per-pixel maths is narrow
FG_CONF = 0.02               # |Fs - Bs|^2 under this: colours too alike to tell, the mask's alpha stays
FG_EPS = 1e-4


def _vec(v) -> str:
    return f"vec{len(v)}({', '.join(repr(float(x)) for x in v)})"


def shader_defines() -> dict[str, str]:
    """The constants above as GLSL #defines: the shaders and the CPU twin read one source."""
    return {"TAPS": str(TAPS), "TEMPORAL_EDGES": _vec(TEMPORAL_EDGES), "MASK_TINT": _vec(MASK_TINT_BGR[::-1]),
            "COC_FLOOR": repr(COC_FLOOR), "BILATERAL_CUTOFF": repr(BILATERAL_CUTOFF),
            "LETTERBOX": _vec(LETTERBOX_RGB), "FG_EDGE_GAIN": repr(FG_EDGE_GAIN), "FG_CONF": repr(FG_CONF),
            "FG_EDGE_MIN": repr(FG_EDGE_MIN), "FG_EPS": repr(FG_EPS)}


def gaussian_kernel(sigma: float) -> np.ndarray:
    """A normalised 1-D Gaussian of radius ceil(3 sigma). Under 0.05 px it is a single tap: its neighbours
    would weigh exp(-200) and less, and a sigma like 1e-200 (a valid light-wrap width of 1e-197 px) squared to
    0 and gave a kernel of NaN."""
    if sigma < 0.05:
        return np.ones(1, np.float32)
    r = max(1, int(math.ceil(3 * sigma)))
    k = np.exp(-(np.arange(-r, r + 1, dtype=np.float64) ** 2) / (2 * sigma * sigma))
    return (k / k.sum()).astype(np.float32)


@dataclass(frozen=True)
class EffectPlan:
    frame_w: int
    frame_h: int
    mask_w: int
    mask_h: int
    refine_w: int
    refine_h: int
    blur_w: int
    blur_h: int
    cmax: float          # max CoC in blur-resolution pixels
    coc_taps: int        # K: taps each side
    tap_step: int        # refine tap spacing, refine pixels
    sigma_space: float   # in refine pixels
    sigma_color: float
    coverage: tuple
    smoothing: float
    wrap_kernel: np.ndarray
    wrap_strength: float
    wrap_add: bool
    refine: bool
    mode: str
    clean_edges: bool = False     # replace mode only
    fg_w: int = 8                 # clean edges work at half the blur resolution: the means are smooth
    fg_h: int = 8
    fg_kernel: np.ndarray = None          # Gaussian for the local colour means, fg-resolution taps
    fg_inner_kernel: np.ndarray = None    # Gaussian for wi
    fg_edge_kernel: np.ndarray = None     # Gaussian for the edge band, blur-resolution taps


REFINE_SCALE = 1  # refinement runs at the model resolution (2x measured no better on portraits-dev)


def _shared(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=64)
def make_plan(s: EffectSettings, frame_size: tuple[int, int], mask_size: tuple[int, int],
              out_size: tuple[int, int] | None = None) -> EffectPlan:
    """Cached: a live stream asks for the same plan twice per frame (its kernels took 0.1 ms to build), so the
    plan and its arrays are shared and read-only.

    out_size: the size the frame will be shown at when it is smaller (the live pipeline keeps a small
    source's frames at their own size and the sink scales the result up): the blur's working resolution and
    every reach in pixels (blur radius, light wrap, edge colours) are those of the output, so the picture is
    the one drawing at the output's size would give."""
    fw, fh = frame_size
    ow, oh = out_size or frame_size
    mw, mh = mask_size
    rw, rh = min(fw, mw * REFINE_SCALE), min(fh, mh * REFINE_SCALE)
    bw, bh = max(8, min(fw, round(ow * s.blur_scale))), max(8, min(fh, round(oh * s.blur_scale)))
    cmax = s.max_coc * bw / ow
    sigma = s.sigma_space
    step = max(1, int(round(sigma / 1.5)))
    wrap_sigma = s.wrap_width * bw / ow / 2.0
    gw, gh = max(8, round(bw / 2)), max(8, round(bh / 2))
    return EffectPlan(
        fw, fh, mw, mh, rw, rh, bw, bh, cmax, int(math.ceil(cmax)), step, sigma, s.sigma_color,
        tuple(s.coverage), s.temporal_smoothing, _shared(gaussian_kernel(wrap_sigma)), s.wrap_strength,
        s.wrap_blend == "add", s.refine, s.mode, s.clean_edges and s.mode == "replace", gw, gh,
        _shared(gaussian_kernel(FG_SIGMA_PX * gw / ow)), _shared(gaussian_kernel(FG_INNER_PX * gw / ow)),
        _shared(gaussian_kernel(FG_EDGE_PX * bw / ow)))


def output_frame(frame: np.ndarray, s: EffectSettings, size: tuple[int, int] | None):
    """(frame, out_size) to draw: the live pipeline keeps frames of a source smaller than the output at the
    source's size and the sink scales the result up, so blur, mask and none draw fewer pixels with the same
    picture (make_plan's out_size). Replace draws at the output's size: its background has more detail than
    the frame."""
    if size is None or (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame, None
    if s.mode == "replace":
        return fit_cover(frame, *size), None
    return frame, tuple(size)
