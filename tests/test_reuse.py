"""Segment only when needed (studio.segment.reuse): the masks drawn, against segmenting every frame, on real
clips played at their rate, and the lag on a person moving at known speeds."""
import cv2
import numpy as np
import pytest

from studio.segment.reuse import SegmentOnChange
from studio.segment.segmenter import Segmenter


def _iou(a, b):
    a, b = a >= 0.5, b >= 0.5
    u = (a | b).sum()
    return 1.0 if u == 0 else (a & b).sum() / u


def _play(frames, seg, kinds=None, masks=None):
    """As the live pipeline decides: (IoU of the mask drawn with the per-frame one, for each frame; fraction
    segmented). `kinds` collects each frame's decision, `masks` (drawn, per-frame) pairs."""
    saver, ious, n = SegmentOnChange(), [], 0
    for f in frames:
        full = seg(f).mask.copy()
        kind, mask = saver.decide(f)
        if mask is None:
            mask = full
            saver.segmented(full)
            n += 1
        if kinds is not None:
            kinds.append(kind)
        if masks is not None:
            masks.append((mask, full))
        ious.append(_iou(mask, full))
    return ious, n / len(frames)


def _flicker(masks, full):
    """Mean change of the mask from one frame to the next where the person is not (over 4 cells from where
    the per-frame masks of both frames are 0.5 or more): background flicker."""
    far = [cv2.dilate((m > 0.5).astype(np.uint8), np.ones((9, 9), np.uint8)) == 0 for m in full]
    return float(np.mean([np.abs(a - b)[f1 & f0].mean()
                          for a, b, f1, f0 in zip(masks[1:], masks[:-1], far[1:], far[:-1])]))


@pytest.fixture(scope="module")
def seg():
    return Segmenter("hd")


def test_masks_held_while_still_match_per_frame_masks_on_webcam_clips(data_dir, seg):
    """The issue's bar: mean IoU >= 0.97 on webcam clips, background flicker no worse. Measured: IoU 0.992 over
    the 20 clips (150 frames each) with 47 % of the frames segmented (three carried at most; with two, 0.994 and
    54 %; the strict test of before, every cell explained, segmented 93 % for IoU 0.9999); flicker 0.000175
    against 0.000180 segmenting every frame (carried masks are moved copies of the segmented ones: a clip's own
    figure moves either way)."""
    ious, fractions, flick = [], [], []
    for clip in sorted((data_dir / "webcam-clips/videos").iterdir()):
        cap = cv2.VideoCapture(str(clip))
        frames = []
        while len(frames) < 150:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f)
        pairs = []
        i, frac = _play(frames, seg, masks=pairs)
        ious += i
        fractions.append(frac)
        drawn, full = [p[0] for p in pairs], [p[1] for p in pairs]
        flick.append((_flicker(drawn, full), _flicker(full, full)))
    assert np.mean(ious) >= 0.99 and np.mean(fractions) <= 0.6, (np.mean(ious), np.mean(fractions))
    saver, every = np.mean(flick, axis=0)
    assert saver <= 1.1 * every, (saver, every)


def test_a_moving_camera_is_segmented_every_frame(data_dir, seg):
    """lucia-video (a walking person, the camera following): bar 0.95; the flow does not explain the motion,
    so every frame is segmented (IoU 1.0)."""
    frames = [cv2.imread(str(p)) for p in sorted((data_dir / "lucia-video/images").iterdir())]
    ious, frac = _play(frames, seg)
    assert np.mean(ious) >= 0.98 and frac >= 0.9


def _moving_person(portrait, background, seg, speed, n=12):
    """The portrait's person cut out and moved right by `speed` px per frame over a still background: (frames,
    the person's true masks at mask resolution)."""
    h, w = portrait.shape[:2]
    a = cv2.resize(seg(portrait).mask, (w, h)) >= 0.5
    bg = cv2.resize(background, (w, h))
    frames, truth = [], []
    for t in range(n):
        dx = int(round(speed * t))
        m = np.zeros_like(a)
        m[:, dx:] = a[:, :w - dx]
        person = np.zeros_like(portrait)
        person[:, dx:] = portrait[:, :w - dx]
        frames.append(np.where(m[..., None], person, bg))
        truth.append(cv2.resize(m.astype(np.float32), (320, 176), interpolation=cv2.INTER_AREA))
    return frames, truth


def _cx(m):
    w = (m >= 0.5).sum(axis=0)
    return (np.arange(m.shape[1]) * w).sum() / max(1, w.sum())


@pytest.mark.parametrize("speed,carried", [(2.0, 6), (4.0, 6), (8.0, 3), (16.0, 0)])
def test_no_lag_on_a_moving_edge(portrait, background, seg, speed, carried):
    """Zero frames of misalignment: a mask carried to a frame is moved with the person to that frame. Its
    offset from where the person truly is stays that of the segmented frame it came from (the model's own
    error, which jitters by up to 2 mask px from frame to frame on this clip), within a quarter of the distance
    moved in one frame; a mask held without motion would trail by the whole distance moved since, and one moved
    by the dense flow trailed by a third to a half of it. Up to 8 px per frame (240 px/s at 720p) most frames
    are carried; at 16 the flow no longer explains the picture and every frame is segmented."""
    frames, truth = _moving_person(portrait, background, seg, speed)
    saver = SegmentOnChange()
    step = speed * 320 / 1280            # mask px per frame
    kinds, key_err = [], None
    for f, t in zip(frames, truth):
        kind, mask = saver.decide(f)
        kinds.append(kind)
        if mask is None:
            mask = seg(f).mask
            saver.segmented(mask)
            key_err = _cx(mask) - _cx(t)
            continue
        assert kind == "carried"
        err = _cx(mask) - _cx(t)
        assert abs(err - key_err) <= max(0.25, step / 4), (kind, err, key_err, step)
    assert "still" not in kinds[1:] and (kinds.count("carried") >= carried if carried else
                                         kinds.count("carried") == 0), kinds


def test_a_still_picture_is_segmented_once_in_six_frames(portrait):
    saver = SegmentOnChange()
    kinds = []
    for _ in range(12):
        kind, mask = saver.decide(portrait)
        kinds.append(kind)
        if mask is None:
            saver.segmented(np.zeros((176, 320), np.float32))
    # twice the same mask, then three times carried (the flow of an unchanged picture is zero), then segmented
    assert kinds == ["segment", "still", "still", "carried", "carried", "carried"] * 2


def test_the_live_pipeline_marks_reused_masks_still(data_dir):
    """An image source is a still picture: one frame in six is segmented; the stills are marked (the renderer
    reuses their blur layer), the carried ones are not."""
    from studio.pipeline import LivePipeline

    img = data_dir / "stock-people/images/girl-919048_1280.jpg"
    pipe = LivePipeline(str(img), tier="lite", size=(320, 180), fps=60, segment_on_change=True).start()
    got = []
    try:
        while len(got) < 12:
            p = pipe.get(timeout=10)
            assert p is not None
            got.append(p)
    finally:
        pipe.stop()
    segmented = ["inference" in p.timings for p in got]
    assert segmented == [True, False, False, False, False, False] * 2
    assert [p.still for p in got] == [False, True, True, False, False, False] * 2


def _count_flow_calls(carry) -> list:
    """The carry's optical flow, the real one, with each call counted in the list returned."""
    calls = []
    real = carry._dis.calc
    carry._dis = type("D", (), {"calc": lambda self, a, b, c: (calls.append(1), real(a, b, c))[1]})()
    return calls


def test_the_flow_is_tried_less_often_while_it_fails():
    """On motion the flow does not explain (most webcam frames), each try costs 0.5 ms for nothing: after a
    failure the next 1, 2, 4, then 8 chances skip it; a success resets that."""
    from studio.segment.reuse import MotionCarry

    rng = np.random.default_rng(0)
    carry = MotionCarry(every=1000)
    calls = _count_flow_calls(carry)
    key = rng.integers(0, 255, (88, 160), np.uint8)
    carry.keyframe(key, np.zeros((176, 320), np.float32))
    tried = []
    for _ in range(20):
        n = len(calls)
        carry.carry(rng.integers(0, 255, (88, 160), np.uint8))   # noise: never explained
        tried.append(len(calls) > n)
    assert tried[:8] == [True, False, True, False, False, True, False, False] and sum(tried) <= 6
    carry._skip = 0
    assert carry.carry(key) is not None and carry._backoff == 0      # explained: tried every time again


def test_a_chain_that_fails_further_on_ends_without_backing_off():
    """A failure on the second or third frame carried from a key frame only ends the chain: that frame is
    segmented and the next one is tried from it at once (backing off there as well held the doctor clip at 39 %
    of its frames segmented; 32 % without, mean IoU 0.990 against 0.991)."""
    from studio.segment.reuse import MotionCarry

    rng = np.random.default_rng(1)
    carry = MotionCarry(every=4)
    calls = _count_flow_calls(carry)
    key = cv2.GaussianBlur(rng.integers(0, 255, (88, 160), np.uint8), (0, 0), 2.0)
    mask = np.zeros((176, 320), np.float32)
    carry.keyframe(key, mask)
    assert carry.carry(key) is not None                               # the frame after the key one: carried
    assert carry.carry(rng.integers(0, 255, (88, 160), np.uint8)) is None    # the next: not explained
    assert carry._skip == 0 and carry._backoff == 0
    carry.keyframe(key, mask)                                         # it was segmented
    n = len(calls)
    assert carry.carry(key) is not None and len(calls) == n + 1       # tried at once from the new key frame
    assert carry.carry(key) is not None and carry.carry(key) is not None and carry.carry(key) is None  # 3 at most


@pytest.mark.parametrize("speed", [4.0, 24.0])
def test_the_live_pipeline_draws_each_frame_with_a_mask_made_for_it(portrait, background, seg, tmp_path, speed):
    """End to end: a clip of the person moving at a known speed, played through the live pipeline with segment
    on change. Every packet's mask is made for its own frame: segmented frames are off where the person truly
    is by the model's own error; a carried one by its segmented frame's error, within a quarter of one frame's
    motion. At 4 px per frame frames are carried; at 24 (720 px/s) every frame is segmented, and a pipeline
    that paired a frame with the mask of the one before would be off by 6 mask px."""
    from studio.pipeline import LivePipeline

    frames, truth = _moving_person(portrait, background, seg, speed, n=16)
    path = tmp_path / "moving.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (1280, 720))
    for f in frames:
        w.write(f)
    w.release()
    pipe = LivePipeline(str(path), tier="hd", size=(1280, 720), fps=30, segment_on_change=True).start()
    got = []
    try:
        while True:    # the first pass of the looping clip (a frame the capture dropped is simply absent)
            p = pipe.get(timeout=10)
            assert p is not None
            if p.index >= len(frames):
                break
            got.append(p)
    finally:
        pipe.stop()
    assert len(got) >= len(frames) - 2 and "inference" in got[0].timings, [p.index for p in got]
    step = speed * 320 / 1280
    key_err, carried = None, 0
    for p in got:
        err = _cx(p.mask) - _cx(truth[p.index])
        if "inference" in p.timings:
            key_err = err
            assert np.abs(p.mask - seg(p.frame).mask).max() < 1e-4       # made from the very frame drawn
        else:
            carried += 1
            assert abs(err - key_err) <= max(0.25, step / 4), (p.index, err, key_err)
    assert (carried >= 6) if speed <= 8 else (carried == 0), carried


def test_picture_serials_never_repeat_across_streams(portrait):
    """The window's renderer outlives its pipelines and keys the blur layer it reuses by picture serial: a packet
    of the old source arriving after a switch must not share a serial with a picture of the new one (it did:
    both streams counted from 1, and the new source's first frames were drawn over the old one's background)."""
    mask = np.zeros((144, 256), np.float32)
    old, new = SegmentOnChange(), SegmentOnChange()
    seen = []
    for saver in (old, new, old, new):
        saver.decide(portrait)
        saver.segmented(mask)
        seen.append(saver.picture)
    new.reset()
    seen.append(new.picture)
    assert len(set(seen)) == len(seen) and 0 not in seen, seen


@pytest.mark.parametrize("cells", [1, 2, 57, 58])
def test_person_motion_is_the_median_inside_on_and_around_the_person(cells):
    """person_motion's compiled pass against its definition in numpy: the median flow of the inside cells
    (an odd and an even count: the mean of the two middle values) on every cell near the person, the dense
    flow elsewhere, the input untouched."""
    from studio.segment.reuse import PersonRegions, person_motion

    rng = np.random.default_rng(cells)
    flow = rng.normal(0, 3, (88, 160, 2)).astype(np.float32)
    before = flow.copy()
    regions = PersonRegions(np.zeros((176, 320), np.float32), (160, 88))
    regions.found = True
    regions.inside = np.zeros((88, 160), bool)
    regions.inside.flat[rng.choice(88 * 160, cells, replace=False)] = True
    regions.inside_at = np.flatnonzero(regions.inside)
    regions.near = rng.random((88, 160)) < 0.3
    moved, edge = person_motion(flow, regions)
    want = flow.copy()
    want[regions.near] = np.median(flow[regions.inside], axis=0)
    assert np.array_equal(moved, want) and np.array_equal(flow, before) and edge is regions.edge


def test_person_motion_without_a_person_keeps_the_flow():
    from studio.segment.reuse import PersonRegions, person_motion

    flow = np.ones((88, 160, 2), np.float32)
    moved, edge = person_motion(flow, PersonRegions(np.zeros((176, 320), np.float32), (160, 88)))
    assert moved is flow and edge is None
