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


def _play(frames, seg, kinds=None):
    """As the live pipeline decides: (IoU of the mask drawn with the per-frame one, for each frame; fraction
    segmented). `kinds` collects each frame's decision."""
    saver, ious, n = SegmentOnChange(), [], 0
    for f in frames:
        full = seg(f).mask
        kind, mask = saver.decide(f)
        if mask is None:
            mask = full
            saver.segmented(full)
            n += 1
        if kinds is not None:
            kinds.append(kind)
        ious.append(_iou(mask, full))
    return ious, n / len(frames)


@pytest.fixture(scope="module")
def seg():
    return Segmenter("hd")


def test_masks_held_while_still_match_per_frame_masks_on_webcam_clips(data_dir, seg):
    """The issue's bar: mean IoU >= 0.97 on webcam clips. Measured: 0.9999 over the 20 clips, with 93 % of the
    frames segmented: the people in them sign, hands move nearly all the time, and a frame is only spared when
    nothing moved or the flow explains all of it (a looser test spared half of them but drew a person moving
    8 px per frame with a mask 15 px behind)."""
    ious, fractions = [], []
    for clip in sorted((data_dir / "webcam-clips/videos").iterdir()):
        cap = cv2.VideoCapture(str(clip))
        frames = []
        while len(frames) < 150:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f)
        i, frac = _play(frames, seg)
        ious += i
        fractions.append(frac)
    assert np.mean(ious) >= 0.995 and np.mean(fractions) <= 0.97, (np.mean(ious), np.mean(fractions))


def test_a_moving_camera_is_segmented_every_frame(data_dir, seg):
    """lucia-video (a walking person, the camera following): bar 0.95; the flow does not explain the motion,
    so every frame is segmented (IoU 1.0)."""
    frames = [cv2.imread(str(p)) for p in sorted((data_dir / "lucia-video/images").iterdir())]
    ious, frac = _play(frames, seg)
    assert np.mean(ious) >= 0.98 and frac >= 0.9


def _moving_person(portrait, background, seg, speed, n=12):
    """The portrait's person cut out and moved right by `speed` px per frame over a still background."""
    h, w = portrait.shape[:2]
    a = cv2.resize(seg(portrait).mask, (w, h)) >= 0.5
    bg = cv2.resize(background, (w, h))
    frames = []
    for t in range(n):
        dx = int(round(speed * t))
        m = np.zeros_like(a)
        m[:, dx:] = a[:, :w - dx]
        person = np.zeros_like(portrait)
        person[:, dx:] = portrait[:, :w - dx]
        frames.append(np.where(m[..., None], person, bg))
    return frames


@pytest.mark.parametrize("speed", [2.0, 4.0, 8.0])
def test_no_lag_on_a_moving_edge(portrait, background, seg, speed):
    """Zero frames of misalignment: a moving person is never drawn with the mask of an earlier picture; a
    carried mask is moved to the frame (its centre of mass within a mask pixel of the per-frame mask's).
    Without motion carry or the still test, a held mask would trail by `speed` px per frame held."""
    frames = _moving_person(portrait, background, seg, speed)
    saver = SegmentOnChange()

    def cx(m):
        w = (m >= 0.5).sum(axis=0)
        return (np.arange(m.shape[1]) * w).sum() / max(1, w.sum())
    kinds = []
    for f in frames:
        full = seg(f).mask
        kind, mask = saver.decide(f)
        kinds.append(kind)
        if mask is None:
            mask = full
            saver.segmented(full)
        assert abs(cx(mask) - cx(full)) <= 1.0, (kind, cx(mask), cx(full))
    assert "still" not in kinds[1:]


def test_a_still_picture_is_segmented_once_in_five_frames(portrait):
    saver = SegmentOnChange()
    kinds = []
    for _ in range(10):
        kind, mask = saver.decide(portrait)
        kinds.append(kind)
        if mask is None:
            saver.segmented(np.zeros((176, 320), np.float32))
    # twice the same mask, then twice carried (the flow of an unchanged picture is zero), then segmented again
    assert kinds == ["segment", "still", "still", "carried", "carried"] * 2


def test_the_live_pipeline_marks_reused_masks_still(data_dir):
    """An image source is a still picture: one frame in five is segmented; the stills are marked (the renderer
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
    assert segmented == [True, False, False, False, False] * 2 + [True, False]
    assert [p.still for p in got] == [False, True, True, False, False] * 2 + [False, True]


def test_the_flow_is_tried_less_often_while_it_fails():
    """On motion the flow does not explain (most webcam frames), each try costs 0.5 ms for nothing: after a
    failure the next 1, 2, 4, then 8 chances skip it; a success resets that."""
    from studio.segment.reuse import MotionCarry

    rng = np.random.default_rng(0)
    carry = MotionCarry(every=1000)
    calls = []
    real = carry._dis.calc
    carry._dis = type("D", (), {"calc": lambda self, a, b, c: (calls.append(1), real(a, b, c))[1]})()
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
