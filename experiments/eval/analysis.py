"""What the studies measure beyond accuracy: calibration, occlusion robustness, localization.

Every function here is pure NumPy/JAX on arrays a trained model produced, so each can be tested
against a hand-computed case:
- calibration: ECE, NLL and reliability-diagram bins (`experiments.eval.metrics`) before and
  after temperature scaling fitted on a held-out half of the test set (Guo et al. 2017);
- robustness: accuracy of a classifier when a box covering a fraction of the image is blanked
  (random position, zero or mean fill; or centred);
- localization: class activation maps (Zhou et al. 2016) → box of the largest connected region
  above 20% of the map's maximum → IoU with the ground-truth box (weakly supervised localization).

Statistics over seeds (mean ± sd, paired differences) are the report's: `experiments.report.stats`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import math

import numpy as np
from scipy import ndimage   # A dependency of jax itself.

from experiments.eval import metrics


# ------------------------------------------------------------------------------- calibration


# The host forms of the metrics (float64), under the names the analyses' callers use.
nll = metrics.mean_nll
ece = metrics.ece


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
  """The T > 0 minimizing NLL(logits / T): golden-section search on log T in [−5, 5].

  NLL(z·β) is convex in β = 1/T, hence unimodal in log T, so the search finds the optimum.
  """
  lo, hi = -5.0, 5.0
  ratio = (math.sqrt(5) - 1) / 2
  f = lambda log_t: nll(np.asarray(logits, np.float64) / math.exp(log_t), labels)
  a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
  fa, fb = f(a), f(b)
  for _ in range(60):
    if fa < fb:
      hi, b, fb = b, a, fa
      a = hi - ratio * (hi - lo)
      fa = f(a)
    else:
      lo, a, fa = a, b, fb
      b = lo + ratio * (hi - lo)
      fb = f(b)
  return float(math.exp((lo + hi) / 2))


def calibration(logits: np.ndarray, labels: np.ndarray) -> dict:
  """ECE / NLL on the odd-indexed half of the test set, before and after a temperature fitted
  on the even-indexed half (held out from both training and this evaluation)."""
  logits, labels = np.asarray(logits, np.float64), np.asarray(labels)
  fit, test = slice(0, None, 2), slice(1, None, 2)
  t = fit_temperature(logits[fit], labels[fit])
  scaled = logits[test] / t
  return {"temperature": t,
          "ece": ece(logits[test], labels[test]), "nll": nll(logits[test], labels[test]),
          "ece_scaled": ece(scaled, labels[test]), "nll_scaled": nll(scaled, labels[test]),
          "accuracy": float((logits[test].argmax(-1) == labels[test]).mean()),
          "reliability": metrics.reliability_bins(logits[test], labels[test]),
          "reliability_scaled": metrics.reliability_bins(scaled, labels[test])}


# ------------------------------------------------------------------------------- robustness


def occlusion_boxes(rng: np.random.Generator, n: int, height: int, width: int, fraction: float,
                    centred: bool = False) -> np.ndarray:
  """[n, 4] boxes (y1, x1, y2, x2), y2/x2 exclusive, of side round(√fraction · side), inside."""
  bh = int(round(math.sqrt(fraction) * height))
  bw = int(round(math.sqrt(fraction) * width))
  if centred:
    y1 = np.full(n, (height - bh) // 2)
    x1 = np.full(n, (width - bw) // 2)
  else:
    y1 = rng.integers(0, height - bh + 1, n)
    x1 = rng.integers(0, width - bw + 1, n)
  return np.stack([y1, x1, y1 + bh, x1 + bw], axis=1)


def occlude(images: np.ndarray, boxes: np.ndarray, fill: np.ndarray | float) -> np.ndarray:
  """Copies of uint8 `images` [N, H, W, C] with each box set to `fill` (scalar or per channel)."""
  out = np.array(images, copy=True)
  h, w = images.shape[1:3]
  ys, xs = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
  inside = ((ys >= boxes[:, 0, None, None]) & (ys < boxes[:, 2, None, None])
            & (xs >= boxes[:, 1, None, None]) & (xs < boxes[:, 3, None, None]))
  fill = np.broadcast_to(np.round(np.asarray(fill, np.float64)).astype(images.dtype),
                         images.shape[-1:])
  out[inside] = fill
  return out


def occlusion_curves(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray,
                     labels: np.ndarray, mean: Sequence[float],
                     fractions: Sequence[float] = (0.0, 0.1, 0.25, 0.5),
                     seed: int = 0) -> dict:
  """Accuracy vs occluded fraction: random box with zero fill, with mean fill, centred box (mean).

  `predict` maps uint8 images [N, H, W, C] to class ids [N]. The boxes depend only on `seed`,
  so every method is scored on the same occluded images.
  """
  n, h, w = images.shape[:3]
  curves = {"fractions": list(fractions), "random_zero": [], "random_mean": [], "centre_mean": []}
  for f in fractions:
    rng = np.random.default_rng([seed, int(round(f * 1000))])
    boxes = occlusion_boxes(rng, n, h, w, f)
    centre = occlusion_boxes(rng, n, h, w, f, centred=True)
    if f == 0:   # Nothing occluded: the three curves share the clean accuracy.
      clean = float((predict(images) == labels).mean())
      for key in ("random_zero", "random_mean", "centre_mean"):
        curves[key].append(clean)
      continue
    for key, bx, fill in (("random_zero", boxes, 0.0), ("random_mean", boxes, mean),
                          ("centre_mean", centre, mean)):
      curves[key].append(float((predict(occlude(images, bx, fill)) == labels).mean()))
  return curves


# ------------------------------------------------------------------------------- localization


def largest_component(mask: np.ndarray) -> np.ndarray:
  """The largest 4-connected component of a boolean [H, W] mask (ties: the one whose first
  pixel comes first in row-major order)."""
  # `ndimage.label`'s default structure is 4-connectivity, and it numbers the components in
  # row-major order of their first pixel; argmax keeps the first of equal sizes. (A Python
  # flood fill took ~10 ms a 64×64 map: 23 s for a test set's 2,000 CAMs.)
  labels, count = ndimage.label(mask)
  if count == 0:
    return np.zeros_like(mask, bool)
  sizes = np.bincount(labels.ravel())[1:]
  return labels == 1 + int(np.argmax(sizes))


def cam_box(cam: np.ndarray, threshold: float = 0.2) -> np.ndarray:
  """(y1, x1, y2, x2) of the largest region where a [H, W] map exceeds threshold · its range."""
  lo, hi = float(cam.min()), float(cam.max())
  if hi <= lo:
    return np.array([0, 0, cam.shape[0], cam.shape[1]])
  region = largest_component((cam - lo) / (hi - lo) >= threshold)
  ys, xs = np.nonzero(region)
  return np.array([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """IoU of boxes (y1, x1, y2, x2), exclusive ends, broadcast over leading axes."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  ih = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
  iw = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
  inter = ih * iw
  area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])
  return inter / (area(a) + area(b) - inter)


def upsample(maps: np.ndarray, height: int, width: int) -> np.ndarray:
  """[N, h, w] → [N, H, W] bilinear, align-corners False (half-pixel centres)."""
  n, h, w = maps.shape
  def axis_weights(out, inp):
    pos = np.clip((np.arange(out) + 0.5) * inp / out - 0.5, 0, inp - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, inp - 1)
    return i0, i1, pos - i0
  y0, y1, fy = axis_weights(height, h)
  x0, x1, fx = axis_weights(width, w)
  rows = maps[:, y0] * (1 - fy)[None, :, None] + maps[:, y1] * fy[None, :, None]
  return rows[:, :, x0] * (1 - fx) + rows[:, :, x1] * fx


def localization(class_maps: np.ndarray, labels: np.ndarray, predicted: np.ndarray,
                 gt_boxes: np.ndarray, height: int, width: int, threshold: float = 0.2) -> dict:
  """Weakly supervised localization from class activation maps [N, h, w, K].

  The map of the true class is upsampled to H×W; its box (largest region ≥ `threshold` of the
  map's range) is compared with the ground-truth box. Reports GT-known localization accuracy
  (IoU ≥ 0.5) and top-1 localization accuracy (IoU ≥ 0.5 and the class predicted right).
  """
  maps = np.take_along_axis(class_maps, labels[:, None, None, None], axis=-1)[..., 0]
  maps = upsample(np.asarray(maps, np.float64), height, width)
  boxes = np.stack([cam_box(m, threshold) for m in maps])
  iou = box_iou(boxes, gt_boxes)
  hit = iou >= 0.5
  return {"mean_iou": float(iou.mean()), "gt_known_loc": float(hit.mean()),
          "top1_loc": float((hit & (predicted == labels)).mean()), "threshold": threshold}
