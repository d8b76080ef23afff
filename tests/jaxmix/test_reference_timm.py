"""timm `timm/data/mixup.py` (`rand_bbox`, `rand_bbox_minmax`, `cutmix_bbox_and_lam`,
`mixup_target`, `Mixup._params_per_*`, `_mix_batch`, `_mix_elem`, `_mix_pair`), float64."""

import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxmix
from tests.jaxmix.reference_utils import (NUM_CLASSES, SEEDS, SETTINGS, SIZES, box_tuple, near_integer,
                                  np_one_hot, prng_key, random_images, timm_minmax_ranges)


# ---------------------------------------------------------------------------
# timm (timm/data/mixup.py), float64, draws passed in.
# ---------------------------------------------------------------------------

def timm_rand_bbox(img_shape, lam, cy, cx, margin=0.0):
  """timm `rand_bbox` with `cy`, `cx` standing in for its `np.random.randint`."""
  ratio = np.sqrt(1 - lam)
  img_h, img_w = img_shape[-2:]
  cut_h, cut_w = int(img_h * ratio), int(img_w * ratio)
  margin_y, margin_x = int(margin * cut_h), int(margin * cut_w)
  assert 0 + margin_y <= cy < img_h - margin_y and 0 + margin_x <= cx < img_w - margin_x
  yl = np.clip(cy - cut_h // 2, 0, img_h)
  yh = np.clip(cy + cut_h // 2, 0, img_h)
  xl = np.clip(cx - cut_w // 2, 0, img_w)
  xh = np.clip(cx + cut_w // 2, 0, img_w)
  return int(yl), int(yh), int(xl), int(xh)


def timm_rand_bbox_minmax(img_shape, minmax, cut_h, cut_w, yl, xl):
  """timm `rand_bbox_minmax` with its four randint draws passed in (and checked)."""
  img_h, img_w = img_shape[-2:]
  (h_lo, h_hi), (w_lo, w_hi) = timm_minmax_ranges(img_shape, minmax)
  assert h_lo <= cut_h < h_hi and w_lo <= cut_w < w_hi, (cut_h, cut_w, minmax)
  assert 0 <= yl < img_h - cut_h and 0 <= xl < img_w - cut_w, (yl, xl)
  return yl, yl + cut_h, xl, xl + cut_w


def timm_cutmix_bbox_and_lam(img_shape, lam, bbox, ratio_minmax=None, correct_lam=True):
  """timm `cutmix_bbox_and_lam`, the box (from one of the two samplers) given."""
  yl, yu, xl, xu = bbox
  if correct_lam or ratio_minmax is not None:
    bbox_area = (yu - yl) * (xu - xl)
    lam = 1. - bbox_area / float(img_shape[-2] * img_shape[-1])
  return (yl, yu, xl, xu), lam


def timm_mixup_target(target, num_classes, lam, smoothing):
  off_value = smoothing / num_classes
  on_value = 1. - smoothing + off_value
  y1 = np_one_hot(target, num_classes, smoothing)
  y2 = np_one_hot(target[::-1], num_classes, smoothing)
  assert np.allclose(y1.max(1), on_value) and np.allclose(y1.min(1), off_value)
  return y1 * lam + y2 * (1. - lam)


def timm_params(mixup_alpha, cutmix_alpha, minmax, prob, switch_prob,
                u_apply, u_switch, lam_mixup, lam_cutmix):
  """`Mixup._params_per_batch` (and per element of `_params_per_elem`), draws given."""
  if minmax is not None:
    cutmix_alpha = 1.0  # timm's __init__ forces this when cutmix_minmax is set
  lam, use_cutmix = 1.0, False
  if u_apply < prob:
    if mixup_alpha > 0. and cutmix_alpha > 0.:
      use_cutmix = u_switch < switch_prob
      lam_mix = lam_cutmix if use_cutmix else lam_mixup
    elif mixup_alpha > 0.:
      lam_mix = lam_mixup
    elif cutmix_alpha > 0.:
      use_cutmix = True
      lam_mix = lam_cutmix
    else:
      raise AssertionError("one alpha must be > 0")
    lam = float(lam_mix)
  return lam, use_cutmix


def timm_mix(x, lam, use_cutmix, bbox, mode, minmax, correct_lam):
  """`Mixup._mix_batch` / `_mix_elem` / `_mix_pair` on float64 NCHW `x`.

  `lam`, `use_cutmix`, `bbox` are the batch's draws: scalars (batch) or per sample
  (elem; pair reads the first half only, as timm draws B/2). Returns (x, label λ).
  """
  x = np.array(x, np.float64, copy=True)
  batch = len(x)
  if mode == "batch":
    if lam == 1.:
      return x, np.float64(1.)
    if use_cutmix:
      (yl, yh, xl, xh), lam = timm_cutmix_bbox_and_lam(x.shape, lam, bbox, minmax, correct_lam)
      x[:, :, yl:yh, xl:xh] = x[::-1][:, :, yl:yh, xl:xh]
    else:
      x_flipped = x[::-1] * (1. - lam)
      x = x * lam + x_flipped
    return x, np.float64(lam)
  n = batch if mode == "elem" else batch // 2
  lam_batch = np.array(lam[:n], np.float64)
  x_orig = x.copy()
  for i in range(n):
    j = batch - i - 1
    lam_i = lam_batch[i]
    if lam_i != 1.:
      if use_cutmix[i]:
        (yl, yh, xl, xh), lam_i = timm_cutmix_bbox_and_lam(
            x[i].shape, lam_i, tuple(int(c[i]) for c in bbox), minmax, correct_lam)
        x[i][:, yl:yh, xl:xh] = x_orig[j][:, yl:yh, xl:xh]
        if mode == "pair":
          x[j][:, yl:yh, xl:xh] = x_orig[i][:, yl:yh, xl:xh]
        lam_batch[i] = lam_i
      else:
        x[i] = x[i] * lam_i + x_orig[j] * (1 - lam_i)
        if mode == "pair":
          x[j] = x[j] * lam_i + x_orig[i] * (1 - lam_i)
  if mode == "pair":
    lam_batch = np.concatenate((lam_batch, lam_batch[::-1]))
  return x, lam_batch[:, None]


CONFIGS = st.fixed_dictionaries({
    "alphas": st.sampled_from([(0.8, 1.0), (0.0, 1.0), (0.8, 0.0), (0.3, 2.0)]),
    "minmax": st.sampled_from([None, None, (0.2, 0.8)]),
    "prob": st.sampled_from([1.0, 0.5, 0.0]),
    "switch_prob": st.sampled_from([0.5, 0.0, 1.0]),
    "smoothing": st.sampled_from([0.0, 0.1]),
    "mode": st.sampled_from(["batch", "elem", "pair"]),
    "correct_lam": st.booleans(),
    "data_format": st.sampled_from(["NHWC", "NCHW"]),
})


def _box_candidates(height, width, lam):
  """Every box the reference `rand_bbox` can return for λ (one per centre)."""
  return {timm_rand_bbox((height, width), np.float64(lam), cy, cx)
          for cy in range(height) for cx in range(width)}


@hypothesis.given(seed=SEEDS, size=SIZES, c=CONFIGS)
@SETTINGS
def test_mix_equals_timm_given_draws(seed, size, c):
  height, width = size
  batch = 6
  mixup_alpha, cutmix_alpha = c["alphas"]
  config = jaxmix.MixConfig(
      mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha, cutmix_minmax=c["minmax"],
      prob=c["prob"], switch_prob=c["switch_prob"], label_smoothing=c["smoothing"],
      num_classes=NUM_CLASSES, mode=c["mode"], partner="flip",
      correct_lam=c["correct_lam"], data_format=c["data_format"])
  key = prng_key(seed)
  x_nchw = random_images(seed, (batch, 3, height, width))
  ids = np.random.default_rng(seed + 1).integers(0, NUM_CLASSES, batch)
  x_in = x_nchw if c["data_format"] == "NCHW" else x_nchw.transpose(0, 2, 3, 1)

  # mix: params = sample_mix_params(key, ...), the draws of the op's key.
  p = jax.tree.map(np.asarray, jaxmix.sample_mix_params(key, config, batch,
                                                        height, width))
  lam, use_cutmix = p["lam"], p["use_cutmix"].astype(bool)
  box = tuple(p["box"])
  per = lambda a: np.broadcast_to(a, (batch,))
  lam_b, cut_b = per(lam), per(use_cutmix)
  applied = lam_b != 1.0

  # The draws obey timm's policy: α = 0 disables an op, prob 0 / 1, switch 0 / 1.
  if c["prob"] == 0.0:
    assert not applied.any()
  if c["prob"] == 1.0:
    assert applied.all()  # Beta(α, α) returns exactly 1 with probability ~0
  if mixup_alpha == 0.0:
    assert cut_b[applied].all()
  elif cutmix_alpha == 0.0 and c["minmax"] is None:
    assert not cut_b[applied].any()
  elif c["switch_prob"] in (0.0, 1.0):
    assert (cut_b[applied] == bool(c["switch_prob"])).all()
  assert ((lam_b >= 0) & (lam_b <= 1)).all()
  if c["mode"] == "pair":  # timm draws B/2 and sample j = B-1-i reuses i's draw
    for leaf in (lam, use_cutmix) + box:
      np.testing.assert_array_equal(leaf, leaf[::-1])

  # The box is one the reference sampler can return for these draws.
  boxes_b = [tuple(int(per(cc)[i]) for cc in box) for i in range(batch)]
  for i in range(batch):
    if not (applied[i] and cut_b[i]):
      continue
    if c["minmax"] is None:
      r = np.sqrt(1.0 - np.float64(lam_b[i]))
      if near_integer([height * r, width * r]).any():
        hypothesis.reject()  # float32 vs float64 floor at an integer boundary
      assert boxes_b[i] in _box_candidates(height, width, lam_b[i]), (boxes_b[i], lam_b[i])
    else:
      yl, yu, xl, xu = boxes_b[i]
      timm_rand_bbox_minmax((height, width), c["minmax"], yu - yl, xu - xl, yl, xl)

  # The reference, given these draws, reproduces images and labels.
  if c["mode"] == "batch":
    ref_x, ref_lam = timm_mix(x_nchw, np.float64(lam), bool(use_cutmix), boxes_b[0],
                              "batch", c["minmax"], c["correct_lam"])
  else:
    box_arr = tuple(np.array([b[k] for b in boxes_b]) for k in range(4))
    ref_x, ref_lam = timm_mix(x_nchw, lam, use_cutmix, box_arr, c["mode"], c["minmax"],
                              c["correct_lam"])
  ref_y = timm_mixup_target(ids, NUM_CLASSES, ref_lam, c["smoothing"])
  np.testing.assert_allclose(np.broadcast_to(p["label_lam"], (batch,)),
                             np.broadcast_to(np.ravel(ref_lam), (batch,)), rtol=0, atol=1e-6)

  got_x, got_y = jaxmix.mix(key, jnp.asarray(x_in), jnp.asarray(ids), config)
  got_x = np.asarray(got_x)
  if c["data_format"] == "NHWC":
    got_x = got_x.transpose(0, 3, 1, 2)
  assert got_x.dtype == np.float32
  np.testing.assert_allclose(got_x, ref_x, rtol=1e-6, atol=1e-6)
  # Samples that are not blended (pasted or untouched) are bit-exact.
  exact = ~(applied & ~cut_b)
  np.testing.assert_array_equal(got_x[exact], ref_x[exact].astype(np.float32))
  np.testing.assert_allclose(np.asarray(got_y), ref_y, rtol=0, atol=1e-6)


@hypothesis.given(seed=SEEDS, minmax=st.sampled_from([(0.2, 0.8), (0.5, 0.5), (0.1, 1.0),
                                                      (0.3, 0.6)]))
@SETTINGS
def test_minmax_box_ranges_and_cutmix_equal_timm(seed, minmax):
  """Sides in [int(H·lo), int(H·hi)), corners in range; paste and λ are timm's."""
  batch, height, width = 6, 7, 12
  key = prng_key(seed)
  (h_lo, h_hi), (w_lo, w_hi) = timm_minmax_ranges((height, width), minmax)
  x = random_images(seed, (batch, height, width, 2))
  ids = np.arange(batch) % NUM_CLASSES
  got_x, got_y = jaxmix.cutmix(key, jnp.asarray(x), jnp.asarray(ids), mode="elem",
                               minmax=minmax, num_classes=NUM_CLASSES)
  # cutmix's elem draw: sample i reads row i of the key's words, the gate in word 0 and
  # the minmax box in words 1-8.
  boxes = jaxmix.sample_box_minmax(key, minmax, height, width, (batch,), offset=1)
  for i in range(batch):
    yl, yu, xl, xu = box_tuple(jaxmix.Box(*(c[i] for c in boxes)))
    cut_h, cut_w = yu - yl, xu - xl
    if h_lo < h_hi and w_lo < w_hi and cut_h < height and cut_w < width:
      # timm's randint ranges are non-empty here: the draws must lie inside them.
      timm_rand_bbox_minmax((height, width), minmax, cut_h, cut_w, yl, xl)
    else:
      # timm would raise (empty randint range); jaxmix documents a one-element range.
      assert cut_h == min(h_lo, height) and cut_w == min(w_lo, width)
    j = batch - 1 - i
    ref = x[i].transpose(2, 0, 1).astype(np.float64).copy()
    (y1, y2, x1, x2), lam = timm_cutmix_bbox_and_lam((height, width), None,
                                                     (yl, yu, xl, xu), minmax, False)
    ref[:, y1:y2, x1:x2] = x[j].transpose(2, 0, 1)[:, y1:y2, x1:x2]
    np.testing.assert_array_equal(np.asarray(got_x[i]).transpose(2, 0, 1), ref)
    want_y = lam * np_one_hot(ids[i:i + 1], NUM_CLASSES) + (1 - lam) * np_one_hot(
        ids[j:j + 1], NUM_CLASSES)
    np.testing.assert_allclose(np.asarray(got_y[i:i + 1]), want_y, rtol=0, atol=1e-6)


@pytest.mark.parametrize("minmax", [(0.2, 0.8), (0.3, 0.9)])
def test_minmax_draws_uniform_like_timm(minmax):
  """cut_h, cut_w uniform on timm's randint ranges; corners uniform given the side."""
  height, width, n = 10, 13, 60000
  box = jax.tree.map(np.asarray, jaxmix.sample_box_minmax(prng_key(7), minmax, height, width,
                                                          (n,)))
  (h_lo, h_hi), (w_lo, w_hi) = timm_minmax_ranges((height, width), minmax)
  cut_h, cut_w = box.y2 - box.y1, box.x2 - box.x1
  for side, lo, hi, size, corner in ((cut_h, h_lo, h_hi, height, box.y1),
                                     (cut_w, w_lo, w_hi, width, box.x1)):
    assert side.min() >= lo and side.max() < hi
    counts = np.bincount(side - lo, minlength=hi - lo)
    assert len(counts) == hi - lo
    assert stats.chisquare(counts).pvalue > 1e-3, counts
    for s in range(lo, hi):
      c = corner[side == s]
      assert c.min() >= 0 and c.max() < size - s  # timm: randint(0, H - cut_h)
      counts = np.bincount(c, minlength=size - s)
      assert stats.chisquare(counts).pvalue > 1e-3, (s, counts)
  # The two sides and the two corners are drawn independently in timm.
  table = np.histogram2d(cut_h, cut_w, bins=[h_hi - h_lo, w_hi - w_lo])[0]
  assert stats.chi2_contingency(table).pvalue > 1e-3


def test_minmax_side_range_float64_like_timm():
  height = width = 100
  minmax = (0.29, 0.35)
  (h_lo, h_hi), _ = timm_minmax_ranges((height, width), minmax)
  assert (h_lo, h_hi) == (28, 35)
  box = jax.tree.map(np.asarray, jaxmix.sample_box_minmax(prng_key(0), minmax, height, width,
                                                          (4000,)))
  sides = set((box.y2 - box.y1).tolist())
  assert sides == set(range(h_lo, h_hi)), sorted(sides)
