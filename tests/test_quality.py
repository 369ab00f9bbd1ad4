"""Picture-quality figures (issue: picture quality), guarded with margins for noise: the tier ladder on
portraits-dev (pseudo ground truth from a matting service) and lucia-video (hand-drawn masks)."""
import pytest

from studio.evaluate import evaluate


@pytest.fixture(scope="module")
def ladder(data_dir):
    out = {}
    for tier in ("hd", "full", "lite"):
        out[tier] = {ds: evaluate(data_dir / ds, tier=tier) for ds in ("portraits-dev", "lucia-video")}
    return out


def test_hd_tier_is_the_best_on_both_sets(ladder):
    """Measured: hd 0.884 / 0.803 (portraits IoU / BF), 0.839 / 0.898 (lucia); full 0.870 / 0.782, 0.817 / 0.884."""
    hd, full = ladder["hd"], ladder["full"]
    for ds in ("portraits-dev", "lucia-video"):
        assert hd[ds]["iou_mean"] >= full[ds]["iou_mean"] + 0.01, ds
        assert hd[ds]["bf_mean"] >= full[ds]["bf_mean"] + 0.005, ds
    assert hd["portraits-dev"]["iou_mean"] >= 0.88 and hd["lucia-video"]["iou_mean"] >= 0.835


def test_lite_tier_is_within_two_points_of_full(ladder):
    """Meet's lite model is one point behind its full one; ours was 12 points behind at 160x96 and is now about
    one (0.861 against 0.870 on portraits-dev, 0.800 against 0.817 on lucia)."""
    for ds, margin in (("portraits-dev", 0.015), ("lucia-video", 0.025)):
        assert ladder["lite"][ds]["iou_mean"] >= ladder["full"][ds]["iou_mean"] - margin, ds


@pytest.fixture(scope="module")
def second_look(data_dir):
    return {ds: evaluate(data_dir / ds, tier="hd", second_look=True) for ds in ("portraits-dev", "lucia-video")}


def test_second_look_at_small_people(ladder, second_look):
    """The issue's goals: lucia-video IoU >= 0.86 and BF >= 0.90, portraits-dev IoU >= 0.885 and never lower
    than without it. Measured (hd, each image on its own): lucia 0.839 / 0.898 -> 0.891 / 0.942; portraits
    0.884 / 0.803 -> 0.889 / 0.811."""
    lucia, portraits = second_look["lucia-video"], second_look["portraits-dev"]
    assert lucia["iou_mean"] >= 0.87 and lucia["bf_mean"] >= 0.92
    assert portraits["iou_mean"] >= 0.886
    assert portraits["iou_mean"] >= ladder["hd"]["portraits-dev"]["iou_mean"]
    assert portraits["bf_mean"] >= ladder["hd"]["portraits-dev"]["bf_mean"]
