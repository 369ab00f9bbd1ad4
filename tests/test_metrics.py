import numpy as np

from studio.metrics import band, boundary, boundary_f, flicker, iou


def test_iou_hand_computed():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[0:4, 0:5] = True   # 20 px
    b[2:6, 0:5] = True   # 20 px, overlap 10
    assert iou(a, b) == 10 / 30
    assert iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0


def test_boundary_is_davis_seg2bmap():
    m = np.zeros((6, 6), bool)
    m[2:4, 2:4] = True
    b = boundary(m)
    # seg2bmap marks pixels whose E, S or SE neighbour differs
    expected = np.zeros((6, 6), bool)
    expected[1, 1:4] = True      # above the square (their S/SE neighbours are inside)
    expected[2:4, 1] = True      # left of the square
    expected[2, 3] = expected[3, 2] = expected[3, 3] = True
    expected[1, 1] = True
    assert (b == expected).all()
    # the image border is not an edge
    full = np.ones((5, 5), bool)
    assert not boundary(full).any()


def test_boundary_f_tolerance():
    gt = np.zeros((100, 100), bool)
    gt[20:80, 20:80] = True
    assert boundary_f(gt, gt) == 1.0
    shifted = np.roll(gt, 1, axis=1)          # 1 px shift: within ceil(0.008*141)=2 px
    assert boundary_f(shifted, gt) == 1.0
    far = np.roll(gt, 5, axis=1)              # vertical edges 5 px off; horizontal edges still match
    f = boundary_f(far, gt)
    assert 0.4 < f < 0.75
    assert boundary_f(np.zeros_like(gt), gt) == 0.0


def test_flicker_and_band():
    a = np.zeros((4, 4), np.float32)
    b = np.full((4, 4), 0.5, np.float32)
    assert flicker([a, b, a], np.ones((4, 4), bool)) == 0.5
    m = np.zeros((50, 50), np.uint8)
    m[20:30, 20:30] = 1
    ring = band(m, 3, 5)
    assert ring[20, 15] and not ring[20, 19] and not ring[20, 10] and not ring[25, 25]
