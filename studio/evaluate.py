"""`backdrop eval`: IoU and boundary F of a tier on a folder of images/ and masks/."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from studio import StudioError
from studio.render.cpu import CpuRenderer
from studio.render.effects import make_plan
from studio.metrics import boundary_f, iou
from studio.segment.segmenter import Segmenter
from studio.segment.tiers import choose_tier
from studio.settings import EffectSettings
from studio.capture.sources import IMAGE_EXT, read_image


def pairs(dataset: str | Path) -> list[tuple[Path, Path]]:
    d = Path(dataset)
    if not (d / "images").is_dir() or not (d / "masks").is_dir():
        raise StudioError(f"{dataset} must contain images/ and masks/ folders")
    masks = {p.stem: p for p in (d / "masks").iterdir() if p.suffix.lower() in IMAGE_EXT}
    out = [(p, masks[p.stem]) for p in sorted((d / "images").iterdir())
           if p.suffix.lower() in IMAGE_EXT and p.stem in masks]
    if not out:
        raise StudioError(f"no image/mask pairs with matching names in {dataset}")
    return out


def predict(seg: Segmenter, image: np.ndarray, size: tuple[int, int], refine: bool,
            settings: EffectSettings | None = None) -> np.ndarray:
    """Person probability (or refined weight) at `size` (w, h), float32."""
    prob = seg(image).mask
    if refine:
        s = (settings or EffectSettings()).with_(refine=True, temporal_smoothing=0.0)
        plan = make_plan(s, (image.shape[1], image.shape[0]), seg.size)
        prob = CpuRenderer(s).refine(image, prob, plan)
    return cv2.resize(prob, size, interpolation=cv2.INTER_LINEAR)


def masks(items: list[tuple[Path, Path]], tier: str = "full", refine: bool = False, threads: int = 1,
          settings: EffectSettings | None = None, log=None, second_look: bool = False):
    """For each (image, mask) pair: (image path, predicted person mask, true mask, tier), both boolean at the
    true mask's size (prediction >= 0.5, truth >= 128)."""
    segs: dict[str, Segmenter] = {}
    for i, (img_p, mask_p) in enumerate(items):
        img = read_image(img_p)
        gt = read_image(mask_p, "mask", cv2.IMREAD_GRAYSCALE)
        t = tier
        if tier == "auto":
            t = choose_tier(source_size=(img.shape[1], img.shape[0]), threads=threads).tier
        if t not in segs:
            segs[t] = Segmenter(t, threads=threads, second_look=second_look)
        segs[t].reset()   # each image on its own: the second look's tracked crops belong to a video
        prob = predict(segs[t], img, (gt.shape[1], gt.shape[0]), refine, settings)
        yield img_p, prob >= 0.5, gt >= 128, t
        if log and (i + 1) % 50 == 0:
            log(f"  {i + 1}/{len(items)}")


def evaluate(dataset, tier: str = "full", refine: bool = False, threads: int = 1, log=None,
             settings: EffectSettings | None = None, bf_tol: float = 0.008, items=None,
             second_look: bool = False) -> dict:
    """bf_tol: boundary F tolerance as a fraction of the diagonal. DAVIS's 0.008 is 7 px at 640x480, wider
    than refinement moves an edge (about one mask pixel, 2-4 px), so 0.002 shows what refinement does.
    `items`: a subset of pairs(dataset) (default all)."""
    items = pairs(dataset) if items is None else items
    ious, bfs, rows = [], [], []
    for img_p, pred, g, t in masks(items, tier, refine, threads, settings, log, second_look):
        ious.append(iou(pred, g))
        bfs.append(boundary_f(pred, g, bf_tol))
        rows.append({"name": img_p.stem, "iou": ious[-1], "bf": bfs[-1], "tier": t})
    return {"dataset": str(dataset), "tier": tier, "refine": refine, "second_look": second_look,
            "n": len(items), "bf_tol": bf_tol,
            "iou_mean": float(np.mean(ious)), "iou_median": float(np.median(ious)),
            "bf_mean": float(np.mean(bfs)), "bf_median": float(np.median(bfs)), "per_image": rows}


# -- old-background rim in replace mode (the issue on picture quality, part 3) -----------------------------------
SCREEN_BGR = (40, 200, 40)   # saturated green
GREY = 128
MAX_RAGGEDNESS = 10.0        # outline length / sqrt(area): above it a "ground truth" mask is broken (portraits-dev
                             # marks some dark person pixels as background), and it is not used


def _fill_holes(b: np.ndarray) -> np.ndarray:
    inv = (b == 0).astype(np.uint8)
    n, lab = cv2.connectedComponents(inv)
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    holes = np.isin(lab, np.setdiff1d(np.arange(1, n), edge))
    out = b.copy()
    out[holes] = 1
    return out


def green_screen_cases(dataset, n: int = 20):
    """People from `dataset` (landscape images, holes in their masks filled, broken masks left out) pasted with
    a soft edge (Gaussian sigma 1.5 px on the mask) over saturated green: (frame u8, ideal composite over grey
    as float, the true outline as a 0/1 mask, the soft alpha)."""
    out = []
    for img_p, mask_p in pairs(dataset):
        img = read_image(img_p)
        if img.shape[1] <= img.shape[0]:
            continue
        gt = read_image(mask_p, "mask", cv2.IMREAD_GRAYSCALE)
        gt = cv2.resize(gt, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
        b = _fill_holes((gt >= 128).astype(np.uint8))
        contours, _ = cv2.findContours(b, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        if sum(len(c) for c in contours) / np.sqrt(max(1, int(b.sum()))) > MAX_RAGGEDNESS:
            continue
        a = cv2.GaussianBlur(b.astype(np.float32), (0, 0), 1.5)[..., None]
        frame = np.clip(img * a + np.float32(SCREEN_BGR) * (1 - a) + 0.5, 0, 255).astype(np.uint8)
        ideal = img * a + np.float32(GREY) * (1 - a)
        out.append((frame, ideal, b, a[..., 0]))
        if len(out) == n:
            break
    return out


def green_screen_spill(cases, render) -> dict:
    """render(frame) -> output over uniform grey, for each case: the spill (studio.metrics.spill) in the band
    from 6 px inside to 12 px outside the true outline, pooled over all cases' band pixels."""
    from studio.metrics import edge_band, spill

    vals = [spill(render(frame), ideal, edge_band(b, 6, 12), SCREEN_BGR, GREY) for frame, ideal, b, _ in cases]
    allv = np.concatenate(vals)
    return {"n": len(cases), "mean": float(allv.mean()), "p95": float(np.percentile(allv, 95)),
            "per_image": [float(v.mean()) for v in vals]}


def replaced_over_grey(cases, masks, settings: EffectSettings) -> dict:
    """green_screen_spill of the CPU renderer with `settings`, each case's background replaced by uniform grey
    and its mask (one per case) computed beforehand."""
    it = iter(masks)

    def render(frame):
        r = CpuRenderer(settings)
        r.set_background(np.full_like(frame, GREY))
        return r.render(frame, next(it))
    return green_screen_spill(cases, render)
