"""The second look at small people: crop boxes, skipping, tracking, several people, a crop that disagrees."""
import cv2
import numpy as np

from studio.segment import second_look as sl
from studio.segment.second_look import SecondLook, person_boxes, square_crop


def _blob(mask_w, mask_h, boxes):
    m = np.zeros((mask_h, mask_w), np.float32)
    for x0, y0, x1, y1 in boxes:
        m[y0:y1, x0:x1] = 1.0
    return m


def test_square_padded_crop_inside_the_frame():
    c = square_crop((100, 100, 200, 500), 1280, 720)     # a tall, full-body person
    assert abs(c.side_x - 400 * (1 + 2 * sl.PAD)) < 1e-6 and c.side_x == c.side_y
    assert c.x0 >= 0 and c.y0 >= 0 and c.y0 + c.side_y <= 720
    assert square_crop((0, 0, 1280, 700), 1280, 720) is None   # the person fills the frame: no second look


def test_boxes_of_the_two_largest_people():
    m = _blob(320, 176, [(10, 40, 40, 170), (200, 60, 240, 170), (300, 10, 302, 12)])
    boxes = person_boxes(m)
    assert boxes == [(200.0, 60.0, 240.0, 170.0), (10.0, 40.0, 40.0, 170.0)]   # largest first; a speck is no one


class _Model:
    """A stand-in model for the crop: it sees the crop it is given and answers with a fixed mask pattern."""
    def __init__(self, answer):
        self.answer = answer
        self.seen = []

    def __call__(self, img):
        self.seen.append(img.shape)
        return self.answer(img)


def _frame_with(boxes):
    """A frame with white people (mask-pixel boxes scaled to 1280x720) on black."""
    frame = np.zeros((720, 1280, 3), np.uint8)
    big = cv2.resize(_blob(320, 176, boxes), (1280, 720), interpolation=cv2.INTER_NEAREST)
    frame[big > 0] = 255
    return frame


def _sees(img):   # a perfect model: the white pixels are the person
    return (img[..., 0] > 127).astype(np.float32)


def test_crops_are_merged_where_they_agree_and_ignored_where_not():
    boxes = [(40, 40, 70, 170)]
    frame, prob = _frame_with(boxes), _blob(320, 176, boxes)
    prob = cv2.GaussianBlur(prob, (0, 0), 1.5)      # the full-frame model's soft, coarse edge
    model = _Model(_sees)
    look = SecondLook()
    out, ms = look(model, frame, prob, (320, 176))
    assert model.seen == [(176, 320, 3)] and look.used == 1 and ms > 0
    truth = _blob(320, 176, boxes)
    assert np.abs(out - truth).mean() < np.abs(prob - truth).mean()     # closer to the true outline
    look = SecondLook()
    out, _ = look(_Model(lambda img: np.zeros(img.shape[:2], np.float32)), frame, prob, (320, 176))
    assert look.used == 0 and np.array_equal(out, prob)                 # a crop that saw nobody changes nothing


def test_two_people_get_a_crop_each():
    boxes = [(40, 40, 70, 170), (230, 60, 260, 170)]
    model = _Model(_sees)
    look = SecondLook()
    look(model, _frame_with(boxes), _blob(320, 176, boxes), (320, 176))
    assert len(model.seen) == 2 and look.used == 2


def test_tracked_crop_does_not_jitter():
    """The person's box wobbles by a mask pixel from frame to frame; the crop moves by less."""
    frame = np.zeros((720, 1280, 3), np.uint8)
    model = _Model(lambda img: np.zeros(img.shape[:2], np.float32))
    look = SecondLook()
    xs = []
    for i in range(20):
        d = (i % 2) * 2
        look(model, frame, _blob(320, 176, [(40 + d, 40, 70 + d, 170)]), (320, 176))
        xs.append(look.crops[0].x0)
    raw_step = 2 * 1280 / 320
    assert max(abs(a - b) for a, b in zip(xs[5:], xs[6:])) < 0.5 * raw_step
    look(model, frame, _blob(320, 176, [(200, 40, 230, 170)]), (320, 176))   # a jump: follows at once
    assert abs(look.crops[0].x0 - (200 + 15) * 4 + look.crops[0].side_x / 2) < 2


def test_segmenter_second_look_on_a_small_person(data_dir):
    from studio.segment.segmenter import Segmenter

    img = cv2.imread(str(sorted((data_dir / "lucia-video/images").iterdir())[0]))
    seg = Segmenter("hd", second_look=True)
    r = seg(img)
    assert "second_look" in r.timings and seg._look.used == 1
    plain = Segmenter("hd")(img)
    assert r.mask.shape == plain.mask.shape and np.abs(r.mask - plain.mask).max() > 0.2


def test_eval_looks_at_each_image_on_its_own(data_dir, monkeypatch):
    """The crops are tracked over a video; eval's images are unrelated, so the tracking starts afresh for each
    (it was carried from one portrait to the next, which moved the figures)."""
    from studio.evaluate import masks, pairs
    from studio.segment.segmenter import Segmenter

    resets = []
    orig = Segmenter.reset
    monkeypatch.setattr(Segmenter, "reset", lambda self: (resets.append(1), orig(self)))
    items = pairs(data_dir / "portraits-dev")[:3]
    assert len(list(masks(items, "hd", second_look=True))) == 3 and len(resets) == 3
