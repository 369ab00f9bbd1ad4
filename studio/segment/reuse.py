"""Segment only when needed. A live picture often changes little from one frame to the next; the model need
not run on every frame as long as the mask drawn with a frame is one made for that picture:

- still: every cell of a small grey copy (one per 8x8 px at 720p) within CELL_DIFF grey levels of the frame
  last segmented, but for at most THRESHOLD cells: its mask serves again, at most MAX_REUSE times in a row, and
  the renderer reuses its blur layer too;
- carried: otherwise, the frame after a segmented one (up to CARRY_EVERY - 1 of them) gets that frame's mask
  moved to it, when the optical flow between their small grey copies explains the picture (at most 2 % of the
  cells off by more than 24 grey levels) and the person's own motion explains its outline (at most 10 % of
  the outline's cells): the outline is moved by the person's motion, not by the dense flow, which is smooth
  across it and would leave the mask trailing;
- everything else is segmented: fast or complex motion (a walking person, a moving camera) every frame.

Measured with hd masks against segmenting every frame (tests/test_reuse.py): the 20 webcam clips (people
signing) 47 % of the frames segmented, mean IoU 0.992; the doctor clip 32 %, IoU 0.990; lucia-video (a walking
person, the camera following) every frame; a still picture one frame in six. A person moving 2-8 px per
frame at 720p is drawn with a mask as far from it as the segmented frame's was (within a quarter of a frame's
motion); at 16 px per frame every frame is segmented."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
from numba import njit

from studio.imageops import grid_sample

GRID = (160, 88)        # the grey copy compared, one cell per 8x8 px at 720p
CELL_DIFF = 12.0        # grey levels: a cell that differs by more has changed (sensor noise is far below)
THRESHOLD = 8           # cells: more changed cells than this, and the picture changed
MAX_REUSE = 2           # at most this many frames in a row reuse a mask


def changed_cells(grey: np.ndarray, ref: np.ndarray, cell_diff: float = CELL_DIFF) -> int:
    """How many cells of a small grey copy differ from `ref` by more than `cell_diff` grey levels."""
    return int(np.count_nonzero(np.abs(grey.astype(np.float32) - ref) > cell_diff))


class StillGate:
    """Per stream. still_grey(grey) says whether the last segmented picture's mask may serve this one;
    reference(grey) makes a segmented picture the one compared with."""

    def __init__(self, threshold: float = THRESHOLD, max_reuse: int = MAX_REUSE, cell_diff: float = CELL_DIFF):
        self.threshold = threshold
        self.cell_diff = cell_diff
        self.max_reuse = max_reuse
        self._ref: np.ndarray | None = None
        self._reused = 0

    def reset(self) -> None:
        self._ref = None
        self._reused = 0

    def still_grey(self, grey: np.ndarray) -> bool:
        """Whether the reference's mask may serve this picture (counted as a reuse when it may)."""
        if (self._ref is not None and self._ref.shape == grey.shape and self._reused < self.max_reuse
                and changed_cells(grey, self._ref, self.cell_diff) <= self.threshold):
            self._reused += 1
            return True
        return False

    def reference(self, grey: np.ndarray) -> None:
        """The picture just segmented: the next ones are compared with it."""
        self._ref = grey.astype(np.float32)
        self._reused = 0


CARRY_EVERY = 4          # with motion carry: at most CARRY_EVERY - 1 frames in a row carried from a segmented one
CARRY_RESIDUAL = 24.0    # grey levels: a cell of the warped key frame this far from the frame is not explained
CARRY_UNEXPLAINED = 0.02  # ... and the flow explains the frame while at most this fraction of cells is not


class MotionCarry:
    """Between two segmented frames, the mask of the last segmented one moved to this frame: the mask is made for
    the frame it is drawn with. The optical flow between their small grey copies (DIS, ultra-fast preset) must
    explain the picture (the key frame warped by it within CARRY_RESIDUAL grey levels of this frame in all but
    CARRY_UNEXPLAINED of the cells), and the person's own motion its outline (person_motion); the mask is then
    moved by that motion. Otherwise (fast or complex motion, a moving camera) the frame is segmented."""

    def __init__(self, every: int = CARRY_EVERY, residual: float = CARRY_RESIDUAL,
                 unexplained: float = CARRY_UNEXPLAINED):
        self.every = every
        self.residual = residual
        self.unexplained = unexplained
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._key_grey: np.ndarray | None = None
        self._key_mask: np.ndarray | None = None
        self._since = 0
        self._grid = None
        self._mask_grid = None
        self._regions: PersonRegions | None = None
        self._skip = 0        # attempts to skip: after failures the flow (0.5 ms) is tried less often
        self._backoff = 0

    def reset(self) -> None:
        self._key_grey = self._key_mask = self._regions = None
        self._since = self._skip = self._backoff = 0

    def keyframe(self, grey: np.ndarray, mask: np.ndarray) -> None:
        """A frame was segmented: it is the one the next frames are carried from."""
        self._key_grey, self._key_mask, self._since = grey, mask, 0
        self._regions = None      # made on the first carry from this key frame

    def carry(self, grey: np.ndarray) -> np.ndarray | None:
        """The key mask moved to this frame, or None when this frame must be segmented."""
        if self._key_mask is None or self._since >= self.every - 1 or grey.shape != self._key_grey.shape:
            return None
        if self._skip > 0:    # the motion has not been one the flow explains lately
            self._skip -= 1
            return None
        flow = self._dis.calc(grey, self._key_grey, None)          # this frame -> the key frame
        gh, gw = grey.shape
        if self._grid is None or self._grid.shape[:2] != grey.shape:
            self._grid = np.dstack(np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32)))

        def unexplained(fl: np.ndarray, where=None) -> float:
            warped = cv2.remap(self._key_grey, cv2.add(fl, self._grid), None, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            off = cv2.absdiff(grey, warped) > self.residual      # whole grey levels: exact in uint8
            if where is None:
                return np.count_nonzero(off) / off.size
            return np.count_nonzero(off & where) / np.count_nonzero(where)

        ok = unexplained(flow) <= self.unexplained        # the flow explains the picture
        if ok:
            if self._regions is None:
                self._regions = PersonRegions(self._key_mask, (gw, gh))
            flow, edge = person_motion(flow, self._regions)
            ok = edge is None or not edge.any() or unexplained(flow, edge) <= EDGE_UNEXPLAINED
        if not ok:
            if self._since == 0:   # not even the frame after the key one: try again after 1, 2, 4, 8 chances
                self._backoff = min(8, max(1, 2 * self._backoff))
                self._skip = self._backoff
            # further on, the chain just ends: the frame is segmented and the next one is tried from it (backing
            # off there too kept the doctor clip at 39 % of its frames segmented with 3 carried, not 32 %)
            return None
        self._backoff = 0
        mh, mw = self._key_mask.shape
        cv2.multiply(flow, (mw / gw, mh / gh, 0, 0), dst=flow)  # to mask pixels, before the resize (4x fewer)
        fl = cv2.resize(flow, (mw, mh), interpolation=cv2.INTER_LINEAR)
        if self._mask_grid is None or self._mask_grid.shape[:2] != (mh, mw):
            self._mask_grid = np.dstack(np.meshgrid(np.arange(mw, dtype=np.float32),
                                                    np.arange(mh, dtype=np.float32)))
        self._since += 1
        fl += self._mask_grid
        return cv2.remap(self._key_mask, fl, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


PERSON_REACH = 15       # cells: a square this wide around each inside cell (7 cells, 56 px at 720p, each side)
                        # takes the person's motion
EDGE_UNEXPLAINED = 0.10  # at most this fraction of the cells along the person's outline unexplained by its motion


class PersonRegions:
    """What person_motion needs from a key mask, made once per segmented frame: the cells inside the person (one
    in from its edge), those within PERSON_REACH // 2 cells of it, and those along its outline, on the grey copy's grid."""

    def __init__(self, key_mask: np.ndarray, grid_size: tuple[int, int]):
        km = cv2.resize(key_mask, grid_size, interpolation=cv2.INTER_AREA)
        inside = cv2.erode((km >= 0.5).astype(np.uint8), np.ones((3, 3), np.uint8))
        self.inside = inside > 0
        self.found = np.count_nonzero(inside) >= 10
        self.near = cv2.dilate(inside, np.ones((PERSON_REACH, PERSON_REACH), np.uint8)) > 0
        self.edge = cv2.dilate(((km > 0.1) & (km < 0.9)).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        self.inside_at = np.flatnonzero(self.inside)   # the inside cells as flat indices, for _person_flow


def person_motion(flow: np.ndarray, regions: PersonRegions) -> tuple[np.ndarray, np.ndarray | None]:
    """The flow with the person's own motion (the median flow inside it) in place of the dense flow on and
    around the person, and the cells along the person's outline (None: no person).

    A dense flow is smooth across the outline, half the person's motion and half the background's, and an
    outline moved by it trails the person by a third to a half of the distance moved (tests/test_reuse.py).
    One motion for the whole person keeps the outline on it; where the person does not move as one piece (a
    hand waved) the outline cells are not explained by it, and the frame is segmented instead."""
    if not regions.found:
        return flow, None
    return _person_flow(flow, regions.inside_at, regions.near), regions.edge


@njit(cache=True, nogil=True)
def _person_flow(flow, inside_at, near):
    """A copy of `flow` with the median flow of the cells at `inside_at` on every `near` cell; one pass where
    numpy's two medians, fill and masked copy took 0.2 ms (the same values: numba's median of float32 halves
    the float32 sum of the two middle values, as numpy's does)."""
    n = inside_at.shape[0]
    fx = np.empty(n, np.float32)
    fy = np.empty(n, np.float32)
    cells = flow.reshape(-1, 2)
    for k in range(n):
        fx[k] = cells[inside_at[k], 0]
        fy[k] = cells[inside_at[k], 1]
    mx = np.float32(np.median(fx))
    my = np.float32(np.median(fy))
    out = flow.copy()
    moved = out.reshape(-1, 2)
    near_cells = near.reshape(-1)
    for i in range(near_cells.shape[0]):
        if near_cells[i]:
            moved[i, 0] = mx
            moved[i, 1] = my
    return out


def small_grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(grid_sample(frame, *GRID), cv2.COLOR_BGR2GRAY)


# Picture serials are unique in the process, not per stream: a renderer that outlives a pipeline (the window's,
# across a source switch) keys its reused blur layer by them, and a late packet of the old source must not
# match a picture of the new one.
_PICTURES = itertools.count(1)


class SegmentOnChange:
    """The live pipeline's saver, per stream: decide(frame) -> ("still", mask) when the picture has not changed
    since the last segmented frame, ("carried", mask) when that frame's mask moved by the flow explains this
    one, ("segment", None) otherwise; after segmenting, segmented(mask)."""

    def __init__(self):
        # person_motion's kernel compiled (or loaded from numba's cache) now, not on the first carried frame
        _person_flow(np.zeros((1, 1, 2), np.float32), np.zeros(1, np.int64), np.ones((1, 1), bool))
        self.gate = StillGate()
        self.carry = MotionCarry()
        self._last = None
        self._grey = None
        self.picture = 0      # serial of the picture last segmented: still frames are that picture again

    def reset(self) -> None:
        self.gate.reset()
        self.carry.reset()
        self._last = None
        self.picture = next(_PICTURES)

    def decide(self, frame: np.ndarray):
        self._grey = small_grey(frame)
        if self._last is not None and self.gate.still_grey(self._grey):
            return "still", self._last
        carried = self.carry.carry(self._grey) if self._last is not None else None
        if carried is not None:
            return "carried", carried
        return "segment", None

    def segmented(self, mask: np.ndarray) -> None:
        self.picture = next(_PICTURES)
        self._last = mask
        self.gate.reference(self._grey)
        self.carry.keyframe(self._grey, mask)
