"""experiments.eval.analysis (and the report's statistics) against hand-computed values and independent implementations."""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.eval import analysis
from experiments.eval import metrics
from experiments.report import stats


def test_nll_and_ece_hand_computed():
  # Two samples, two classes. Sample 0: p = (0.8, 0.2), label 0 (right, conf 0.8).
  # Sample 1: p = (0.3, 0.7), label 0 (wrong, conf 0.7).
  logits = np.log(np.array([[0.8, 0.2], [0.3, 0.7]]))
  labels = np.array([0, 0])
  assert metrics.mean_nll(logits, labels) == pytest.approx(-(math.log(0.8) + math.log(0.3)) / 2)
  # Bins of width 1/15: 0.7 lies in (0.6667, 0.7333], 0.8 in (0.7333, 0.8]; one sample each.
  # ECE = 1/2 |1 − 0.8| + 1/2 |0 − 0.7| = 0.45.
  assert metrics.ece(logits, labels) == pytest.approx(0.45)
  bins = metrics.reliability_bins(logits, labels)
  assert sum(bins["count"]) == 2 and bins["count"][10] == 1 and bins["count"][11] == 1


def test_confidence_on_a_bin_edge_goes_to_the_lower_bin():
  # (lo, hi] bins as in Guo et al.: a confidence of exactly 0.6 belongs to (8/15, 0.6].
  logits = np.log(np.array([[0.6, 0.4]]))
  bins = metrics.reliability_bins(logits, np.array([0]))
  assert bins["count"][8] == 1


def test_fit_temperature_recovers_the_temperature_of_the_data():
  rng = np.random.default_rng(0)
  z = rng.normal(size=(20000, 5)) * 2.0
  p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
  labels = np.array([rng.choice(5, p=row) for row in p])
  # Logits 3× too confident: the NLL-optimal temperature is 3.
  assert analysis.fit_temperature(3.0 * z, labels) == pytest.approx(3.0, rel=0.05)


def test_calibration_uses_disjoint_halves_and_scaling_improves_nll():
  rng = np.random.default_rng(1)
  z = rng.normal(size=(4000, 10)) * 1.5
  p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
  labels = np.array([rng.choice(10, p=row) for row in p])
  out = analysis.calibration(4.0 * z, labels)
  assert out["temperature"] == pytest.approx(4.0, rel=0.15)
  assert out["nll_scaled"] < out["nll"] and out["ece_scaled"] < out["ece"]
  assert sum(out["reliability"]["count"]) == 2000


def test_occlusion_boxes_and_fill():
  rng = np.random.default_rng(0)
  boxes = analysis.occlusion_boxes(rng, 100, 32, 32, 0.25)
  assert np.all(boxes[:, 2] - boxes[:, 0] == 16) and np.all(boxes[:, 3] - boxes[:, 1] == 16)
  assert boxes.min() >= 0 and boxes[:, 2:].max() <= 32
  centre = analysis.occlusion_boxes(rng, 1, 32, 32, 0.25, centred=True)
  np.testing.assert_array_equal(centre, [[8, 8, 24, 24]])
  images = np.full((1, 4, 5, 3), 200, np.uint8)
  out = analysis.occlude(images, np.array([[1, 2, 3, 4]]), [10.4, 20.6, 30.0])
  expected = images.copy()
  expected[0, 1:3, 2:4] = [10, 21, 30]
  np.testing.assert_array_equal(out, expected)
  assert images[0, 1, 2, 0] == 200   # input untouched


def test_occlusion_curves_count_correct_predictions():
  images = np.zeros((4, 8, 8, 1), np.uint8)
  images[:, 3:5, 3:5] = 255    # a bright centre
  labels = np.array([1, 1, 1, 1])
  # "Classifier": class 1 if any bright pixel remains.
  predict = lambda x: (x.reshape(len(x), -1).max(1) > 0).astype(int)
  curves = analysis.occlusion_curves(predict, images, labels, mean=[0.0], fractions=(0.0, 0.25))
  assert curves["random_zero"][0] == 1.0 and curves["centre_mean"][0] == 1.0
  # A centred 4×4 box covers the 2×2 centre: every image becomes class 0.
  assert curves["centre_mean"][1] == 0.0


def test_largest_component_and_cam_box():
  mask = np.zeros((6, 6), bool)
  mask[0, 0] = True              # size 1
  mask[2:5, 3:5] = True          # size 6
  mask[5, 0:3] = True            # size 3
  comp = analysis.largest_component(mask)
  assert comp.sum() == 6 and comp[2:5, 3:5].all()
  cam = np.zeros((6, 6))
  cam[2:5, 3:5] = 1.0
  cam[0, 0] = 0.9                # separate, smaller region above threshold
  np.testing.assert_array_equal(analysis.cam_box(cam), [2, 3, 5, 5])


def _flood_fill_largest(mask):
  """Reference: 4-connected flood fill from each unseen pixel in row-major order, keeping the
  first component of the largest size."""
  h, w = mask.shape
  seen, best = np.zeros_like(mask, bool), []
  for y0, x0 in zip(*np.nonzero(mask)):
    if seen[y0, x0]:
      continue
    stack, comp = [(y0, x0)], []
    seen[y0, x0] = True
    while stack:
      y, x = stack.pop()
      comp.append((y, x))
      for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
        if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
          seen[ny, nx] = True
          stack.append((ny, nx))
    if len(comp) > len(best):
      best = comp
  out = np.zeros_like(mask, bool)
  for y, x in best:
    out[y, x] = True
  return out


def test_largest_component_matches_a_flood_fill_with_ties_and_diagonals():
  rng = np.random.default_rng(0)
  masks = [rng.random((9, 11)) < p for p in (0.0, 0.2, 0.45, 0.6, 1.0) for _ in range(40)]
  for mask in masks:
    np.testing.assert_array_equal(analysis.largest_component(mask), _flood_fill_largest(mask))
  tie = np.zeros((3, 5), bool)
  tie[0, 3:5] = tie[2, 0:2] = True   # Two of size 2: the first in row-major order wins.
  np.testing.assert_array_equal(analysis.largest_component(tie), _flood_fill_largest(tie))
  assert analysis.largest_component(tie)[0, 3:5].all()
  diagonal = np.eye(3, dtype=bool)   # Diagonal neighbours are not connected.
  assert analysis.largest_component(diagonal).sum() == 1


def test_box_iou_hand_computed():
  assert analysis.box_iou([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7)
  assert analysis.box_iou([0, 0, 2, 2], [2, 2, 4, 4]) == 0.0
  assert analysis.box_iou([0, 0, 4, 4], [0, 0, 4, 4]) == 1.0


def test_upsample_matches_jax_image_resize_bilinear():
  maps = np.random.default_rng(0).normal(size=(3, 4, 5))
  ours = analysis.upsample(maps, 32, 40)
  # jax.image.resize uses half-pixel centres; it only differs at the border where it
  # extrapolates by edge clamping the same way.
  ref = np.asarray(jax.image.resize(jnp.asarray(maps), (3, 32, 40), "bilinear", antialias=False))
  np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_localization_hits_and_misses():
  class_maps = np.zeros((2, 4, 4, 2))
  class_maps[0, 0:2, 0:2, 1] = 1.0     # sample 0, class 1: top-left quarter
  class_maps[1, 2:4, 2:4, 0] = 1.0     # sample 1, class 0: bottom-right quarter
  labels = np.array([1, 0])
  gt = np.array([[0, 0, 16, 16], [0, 0, 16, 16]])   # both objects top-left (32×32 image)
  out = analysis.localization(class_maps, labels, predicted=np.array([1, 1]), gt_boxes=gt,
                              height=32, width=32)
  assert out["gt_known_loc"] == 0.5     # sample 0 found, sample 1 not
  assert out["top1_loc"] == 0.5


def test_paired_difference_interval():
  out = stats.paired_difference([0.70, 0.72, 0.74], [0.68, 0.69, 0.70])
  d = np.array([0.02, 0.03, 0.04])
  half = 4.303 * d.std(ddof=1) / math.sqrt(3)
  assert out["mean"] == pytest.approx(0.03)
  assert out["lo"] == pytest.approx(0.03 - half) and out["hi"] == pytest.approx(0.03 + half)
  assert stats.mean_sd([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))


def test_paired_difference_of_no_seeds_is_empty_without_warnings():
  with warnings.catch_warnings():
    warnings.simplefilter("error")   # NumPy's "Mean of empty slice" would raise here.
    out = stats.paired_difference([], [])
  assert out["n"] == 0 and all(math.isnan(out[k]) for k in ("mean", "lo", "hi"))
