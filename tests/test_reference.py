"""Exactness of jaxmix against independent NumPy restatements of the reference code.

Each reference below is re-written here in float64 NumPy from the papers' official
code (it calls no jaxmix helper), with the random draws passed in as arguments:
- official CutMix, clovaai/CutMix-PyTorch `train.py` (`rand_bbox` + the paste);
- timm `timm/data/mixup.py` (`rand_bbox`, `rand_bbox_minmax`, `cutmix_bbox_and_lam`,
  `mixup_target`, `Mixup._params_per_*`, `_mix_batch`, `_mix_elem`, `_mix_pair`);
- official Cutout, uoguelph-mlrg/Cutout `util/cutout.py`;
- Mixup (Zhang et al.), and timm's `FastCollateMixup` rounding for uint8;
- random erasing, the sequential attempt loop of timm / torchvision `RandomErasing`.

jaxmix's draws are reproduced from its documented key derivation (the docstrings
of `cutmix`, `cutout`, `mixup`, `mix`) using only the public samplers
(`sample_lam`, `sample_centre`, `partner_index`, `sample_mix_params`,
`sample_erasing_box`); the references then get the same λ / centres / partners.
"""

import math

import chex
import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxmix

# The profile's example count (tests/conftest.py: 10 in CI, 300 with
# JAXMIX_HYPOTHESIS=extended); the draws are seeds on two fixed shapes, so a
# handful already meets every mode, dtype and layout the strategies offer.
SETTINGS = hypothesis.settings(deadline=None, derandomize=True,
                               suppress_health_check=[hypothesis.HealthCheck.too_slow])
SEEDS = st.integers(0, 2**31 - 1)
# A few fixed shapes keep compile cost low: one square, one non-square (H != W).
SIZES = st.sampled_from([(8, 8), (7, 12)])
NUM_CLASSES = 5


def _key(seed):
  return jax.random.key(seed)


def _images(seed, shape, dtype=np.float32):
  rng = np.random.default_rng(seed)
  if np.issubdtype(dtype, np.integer):
    return rng.integers(0, 256, size=shape).astype(dtype)
  return rng.normal(size=shape).astype(dtype)


def _near_integer(v, tol=1e-4):
  """True where v is within tol of an integer but not one (float32/float64 boundary)."""
  v = np.asarray(v, np.float64)
  d = np.abs(v - np.round(v))
  return (d < tol) & (d != 0)


# ---------------------------------------------------------------------------
# Official CutMix (clovaai/CutMix-PyTorch, train.py), float64.
# ---------------------------------------------------------------------------

def official_rand_bbox(height, width, lam, cy, cx):
  """`rand_bbox(size, lam)` of official CutMix with the centre given.

  The official code reads `W = size[2]; H = size[3]` from an NCHW size and pastes
  `input[:, :, bbx1:bbx2, bby1:bby2]`, so its "W"/"x" is really dim 2 (rows) and
  its "H"/"y" dim 3 (columns). Restated with honest names: rows (height, dim 2)
  get cut_h = int(H * cut_rat) about cy, columns (width, dim 3) get cut_w about cx.
  The arithmetic is float64 NumPy, as there.
  """
  cut_rat = np.sqrt(1.0 - np.float64(lam))
  cut_h = int(height * cut_rat)
  cut_w = int(width * cut_rat)
  y1 = int(np.clip(cy - cut_h // 2, 0, height))
  y2 = int(np.clip(cy + cut_h // 2, 0, height))
  x1 = int(np.clip(cx - cut_w // 2, 0, width))
  x2 = int(np.clip(cx + cut_w // 2, 0, width))
  return y1, y2, x1, x2


def official_cutmix(x_nchw, y_rows, lam, cy, cx, rand_index):
  """The official train-loop CutMix step on NCHW float64 input and label rows."""
  x = np.array(x_nchw, copy=True)
  height, width = x.shape[2], x.shape[3]
  y1, y2, x1, x2 = official_rand_bbox(height, width, lam, cy, cx)
  x[:, :, y1:y2, x1:x2] = x[rand_index, :, y1:y2, x1:x2]
  lam = 1 - ((y2 - y1) * (x2 - x1) / (width * height))
  # criterion(out, y_a) * lam + criterion(out, y_b) * (1 - lam) is the CE of this target.
  target = lam * y_rows + (1.0 - lam) * y_rows[rand_index]
  return x, target, (y1, y2, x1, x2)


def _np_one_hot(ids, k, smoothing=0.0):
  off = smoothing / k
  on = 1.0 - smoothing + off
  rows = np.full((len(ids), k), off, np.float64)
  rows[np.arange(len(ids)), ids] = on
  return rows


def _box_tuple(box):
  return tuple(int(np.asarray(c)) for c in box)


@hypothesis.given(seed=SEEDS, size=SIZES, alpha=st.sampled_from([0.2, 1.0, 4.0]))
@SETTINGS
def test_box_from_centre_equals_official_rand_bbox(seed, size, alpha):
  height, width = size
  key_lam, key_box = jax.random.split(_key(seed))
  lam = jaxmix.sample_lam(key_lam, alpha)
  cy, cx = jaxmix.sample_centre(key_box, height, width)
  lam64 = np.float64(np.asarray(lam))
  r = np.sqrt(1.0 - lam64)
  # jaxmix computes √(1−λ)·H in float32, the reference in float64: within float32
  # rounding of an integer the two floors may legitimately differ by one pixel.
  hypothesis.assume(not _near_integer([height * r, width * r]).any())
  got = _box_tuple(jaxmix.box_from_centre(lam, cy, cx, height, width))
  want = official_rand_bbox(height, width, lam64, int(cy), int(cx))
  assert got == want


@pytest.mark.parametrize("size", [(8, 8), (7, 12), (32, 32),
                                  pytest.param((224, 160), marks=pytest.mark.slow)])
def test_box_from_centre_exhaustive_lams_and_centres(size):
  """Many λ at once (incl. 0, 1, exact squares) and every centre; only float32
  boundary cases may differ, and then by at most one pixel per coordinate.
  The ImageNet-sized case (15M boxes) is slow; the three small sizes of this test
  run the same formulas, square and not, in the default run."""
  height, width = size
  rng = np.random.default_rng(height * 1000 + width)
  lams = np.concatenate([
      rng.uniform(0, 1, 400),
      [0.0, 1.0, 0.75, 0.5, 0.25, 1.0 - 1.0 / height ** 2, 1.0 - 4.0 / width ** 2]
  ]).astype(np.float32)
  cy, cx = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  cy = np.broadcast_to(cy.ravel()[None], (len(lams), height * width)).ravel()
  cx = np.broadcast_to(cx.ravel()[None], (len(lams), height * width)).ravel()
  lam_all = np.repeat(lams, height * width)
  got = np.stack([np.asarray(c) for c in jaxmix.box_from_centre(
      jnp.asarray(lam_all), jnp.asarray(cy, jnp.int32), jnp.asarray(cx, jnp.int32),
      height, width)], -1)
  step = max(1, len(lam_all) // 2000)  # the scalar reference on a spread subset
  want = np.array([official_rand_bbox(height, width, l, y, x)
                   for l, y, x in zip(lam_all[::step], cy[::step], cx[::step])])
  sub = ~(_near_integer(height * np.sqrt(1.0 - lam_all[::step].astype(np.float64)))
          | _near_integer(width * np.sqrt(1.0 - lam_all[::step].astype(np.float64))))
  np.testing.assert_array_equal(got[::step][sub], want[sub])
  # Vectorized restatement for every row (same formulas as official_rand_bbox).
  r = np.sqrt(1.0 - lam_all.astype(np.float64))
  ch, cw = (height * r).astype(np.int64), (width * r).astype(np.int64)
  full = np.stack([np.clip(cy - ch // 2, 0, height), np.clip(cy + ch // 2, 0, height),
                   np.clip(cx - cw // 2, 0, width), np.clip(cx + cw // 2, 0, width)], -1)
  boundary = _near_integer(height * r) | _near_integer(width * r)
  np.testing.assert_array_equal(got[~boundary], full[~boundary])
  assert np.abs(got - full).max() <= 1


@hypothesis.given(seed=SEEDS, size=SIZES, alpha=st.sampled_from([0.5, 1.0]),
                  smoothing=st.sampled_from([0.0, 0.1]))
@SETTINGS
def test_cutmix_batch_permute_equals_official(seed, size, alpha, smoothing):
  height, width = size
  batch = 6
  key = _key(seed)
  x = _images(seed, (batch, height, width, 3))
  ids = np.random.default_rng(seed).integers(0, NUM_CLASSES, batch)
  # cutmix: key_partner, key_params = split(key); batch mode draws once from
  # key_params: key_lam, key_box = split(key_params); λ = sample_lam(key_lam, α);
  # centre = sample_centre(key_box, H, W).
  key_partner, key_params = jax.random.split(key)
  key_lam, key_box = jax.random.split(key_params)
  lam = jaxmix.sample_lam(key_lam, alpha)
  cy, cx = jaxmix.sample_centre(key_box, height, width)
  lam64 = np.float64(np.asarray(lam))
  r = np.sqrt(1.0 - lam64)
  hypothesis.assume(not _near_integer([height * r, width * r]).any())
  rand_index = np.asarray(jaxmix.partner_index(key_partner, batch, "permute"))
  assert sorted(rand_index.tolist()) == list(range(batch))

  x_ref, y_ref, _ = official_cutmix(x.transpose(0, 3, 1, 2).astype(np.float64),
                                    _np_one_hot(ids, NUM_CLASSES, smoothing),
                                    lam64, int(cy), int(cx), rand_index)
  got_x, got_y = jaxmix.cutmix(key, jnp.asarray(x), jnp.asarray(ids), alpha=alpha,
                               mode="batch", partner="permute", num_classes=NUM_CLASSES,
                               label_smoothing=smoothing)
  # Pixels are copied, so exact.
  np.testing.assert_array_equal(np.asarray(got_x), x_ref.transpose(0, 2, 3, 1))
  np.testing.assert_allclose(np.asarray(got_y), y_ref, rtol=0, atol=1e-6)


def test_cutmix_nchw_uint8_equals_official():
  """Same as above on NCHW uint8 input (the official layout), several keys."""
  batch, height, width = 4, 7, 12
  for seed in range(8):
    key = _key(seed)
    x = _images(seed, (batch, 3, height, width), np.uint8)
    ids = np.arange(batch) % NUM_CLASSES
    key_partner, key_params = jax.random.split(key)
    key_lam, key_box = jax.random.split(key_params)
    lam = np.float64(np.asarray(jaxmix.sample_lam(key_lam, 1.0)))
    cy, cx = jaxmix.sample_centre(key_box, height, width)
    if _near_integer(np.array([height, width]) * np.sqrt(1 - lam)).any():
      continue
    rand_index = np.asarray(jaxmix.partner_index(key_partner, batch, "permute"))
    x_ref, y_ref, _ = official_cutmix(x, _np_one_hot(ids, NUM_CLASSES), lam,
                                      int(cy), int(cx), rand_index)
    got_x, got_y = jaxmix.cutmix(key, jnp.asarray(x), jnp.asarray(ids), mode="batch",
                                 partner="permute", num_classes=NUM_CLASSES,
                                 data_format="NCHW")
    assert got_x.dtype == jnp.uint8
    np.testing.assert_array_equal(np.asarray(got_x), x_ref)
    np.testing.assert_allclose(np.asarray(got_y), y_ref, rtol=0, atol=1e-6)


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


def timm_minmax_ranges(img_shape, minmax):
  """The `np.random.randint` ranges of timm `rand_bbox_minmax` (high exclusive)."""
  img_h, img_w = img_shape[-2:]
  return ((int(img_h * minmax[0]), int(img_h * minmax[1])),
          (int(img_w * minmax[0]), int(img_w * minmax[1])))


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
  y1 = _np_one_hot(target, num_classes, smoothing)
  y2 = _np_one_hot(target[::-1], num_classes, smoothing)
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
  key = _key(seed)
  x_nchw = _images(seed, (batch, 3, height, width))
  ids = np.random.default_rng(seed + 1).integers(0, NUM_CLASSES, batch)
  x_in = x_nchw if c["data_format"] == "NCHW" else x_nchw.transpose(0, 2, 3, 1)

  # mix: key_partner, key_params = split(key); params = sample_mix_params(key_params, ...).
  _, key_params = jax.random.split(key)
  p = jax.tree.map(np.asarray, jaxmix.sample_mix_params(key_params, config, batch,
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
      if _near_integer([height * r, width * r]).any():
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
  key = _key(seed)
  (h_lo, h_hi), (w_lo, w_hi) = timm_minmax_ranges((height, width), minmax)
  x = _images(seed, (batch, height, width, 2))
  ids = np.arange(batch) % NUM_CLASSES
  got_x, got_y = jaxmix.cutmix(key, jnp.asarray(x), jnp.asarray(ids), mode="elem",
                               minmax=minmax, num_classes=NUM_CLASSES)
  # cutmix's elem draw: key_params = split(key)[1]; per sample split(key_params, B)[i];
  # key_box = split(k_i)[1]; box = sample_box_minmax(key_box, minmax, H, W).
  _, key_params = jax.random.split(key)
  for i, k in enumerate(jax.random.split(key_params, batch)):
    yl, yu, xl, xu = _box_tuple(jaxmix.sample_box_minmax(jax.random.split(k)[1], minmax,
                                                         height, width))
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
    want_y = lam * _np_one_hot(ids[i:i + 1], NUM_CLASSES) + (1 - lam) * _np_one_hot(
        ids[j:j + 1], NUM_CLASSES)
    np.testing.assert_allclose(np.asarray(got_y[i:i + 1]), want_y, rtol=0, atol=1e-6)


@pytest.mark.parametrize("minmax", [(0.2, 0.8), (0.3, 0.9)])
def test_minmax_draws_uniform_like_timm(minmax):
  """cut_h, cut_w uniform on timm's randint ranges; corners uniform given the side."""
  height, width, n = 10, 13, 60000
  box = jax.tree.map(np.asarray, jaxmix.sample_box_minmax(_key(7), minmax, height, width,
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
  box = jax.tree.map(np.asarray, jaxmix.sample_box_minmax(_key(0), minmax, height, width,
                                                          (4000,)))
  sides = set((box.y2 - box.y1).tolist())
  assert sides == set(range(h_lo, h_hi)), sorted(sides)


# ---------------------------------------------------------------------------
# Official Cutout (uoguelph-mlrg/Cutout, util/cutout.py), one hole.
# ---------------------------------------------------------------------------

def official_cutout(img_chw, length, y, x):
  """`Cutout.__call__` for one CHW image, `y`, `x` standing in for its randint draws."""
  h, w = img_chw.shape[1], img_chw.shape[2]
  mask = np.ones((h, w), np.float32)
  y1 = np.clip(y - length // 2, 0, h)
  y2 = np.clip(y + length // 2, 0, h)
  x1 = np.clip(x - length // 2, 0, w)
  x2 = np.clip(x + length // 2, 0, w)
  mask[y1:y2, x1:x2] = 0.
  return img_chw * mask[None]


@hypothesis.given(seed=SEEDS, size=SIZES, length=st.sampled_from([1, 3, 4, 16]),
                  mode=st.sampled_from(["elem", "batch"]),
                  dtype=st.sampled_from([np.uint8, np.float32]),
                  data_format=st.sampled_from(["NHWC", "NCHW"]))
@SETTINGS
def test_cutout_equals_official(seed, size, length, mode, dtype, data_format):
  height, width = size
  batch = 4
  key = _key(seed)
  x_nchw = _images(seed, (batch, 3, height, width), dtype)
  x_in = x_nchw if data_format == "NCHW" else x_nchw.transpose(0, 2, 3, 1)
  got = np.asarray(jaxmix.cutout(key, jnp.asarray(x_in), size=length, mode=mode,
                                 data_format=data_format))
  if data_format == "NHWC":
    got = got.transpose(0, 3, 1, 2)
  assert got.dtype == dtype
  # cutout passes `key` to draw_params: batch mode draws sample_centre(key, H, W) once,
  # elem mode sample_centre(k_i, H, W) for k_i in split(key, B).
  if mode == "batch":
    centres = [jaxmix.sample_centre(key, height, width)] * batch
  else:
    centres = [jaxmix.sample_centre(k, height, width) for k in jax.random.split(key, batch)]
  want = np.stack([official_cutout(x_nchw[i].astype(np.float64), length, int(cy), int(cx))
                   for i, (cy, cx) in enumerate(centres)])
  np.testing.assert_array_equal(got, want.astype(dtype))


def test_cutout_elem_differs_per_image_and_leaves_rest():
  """Cannot-pass-by-accident check: elem boxes vary, pixels outside boxes untouched."""
  x = np.full((16, 8, 8, 1), 7, np.uint8)
  out = np.asarray(jaxmix.cutout(_key(3), jnp.asarray(x), size=4, mode="elem"))
  erased = out[..., 0] == 0
  assert np.all((out == 7) | (out == 0))
  assert len({m.tobytes() for m in erased}) > 1
  assert erased.any(axis=(1, 2)).all()


# ---------------------------------------------------------------------------
# Mixup (Zhang et al.): mixed_x = lam * x + (1 - lam) * x[index].
# ---------------------------------------------------------------------------

_MIXUP_TOL = {np.float32: 1e-6, jnp.bfloat16: 2 ** -7, np.float16: 2 ** -10}


def _mixup_lams(key, alpha, mode, batch):
  """λ per mixup's documented derivation, and the partner index."""
  key_partner, key_params = jax.random.split(key)
  if mode == "batch":
    lam = np.full(batch, np.asarray(jaxmix.sample_lam(key_params, alpha)))
  else:
    lam = np.array([np.asarray(jaxmix.sample_lam(k, alpha))
                    for k in jax.random.split(key_params, batch)])
  return lam.astype(np.float32), key_partner


@hypothesis.given(seed=SEEDS, mode=st.sampled_from(["batch", "elem"]),
                  partner=st.sampled_from(["flip", "roll", "permute"]),
                  dtype=st.sampled_from([np.float32, jnp.bfloat16, np.float16, np.uint8]))
@SETTINGS
def test_mixup_equals_official(seed, mode, partner, dtype):
  batch, height, width = 4, 7, 12
  key = _key(seed)
  x32 = _images(seed, (batch, height, width, 3), np.uint8 if dtype == np.uint8 else np.float32)
  x = x32.astype(dtype)
  ids = np.random.default_rng(seed).integers(0, NUM_CLASSES, batch)
  lam, key_partner = _mixup_lams(key, 0.4, mode, batch)
  index = np.asarray(jaxmix.partner_index(key_partner, batch, partner))
  got_x, got_y = jaxmix.mixup(key, jnp.asarray(x), jnp.asarray(ids), alpha=0.4, mode=mode,
                              partner=partner, num_classes=NUM_CLASSES)
  got_x = np.asarray(got_x)
  assert got_x.dtype == x.dtype
  lam4 = lam[:, None, None, None]
  if dtype == np.uint8:
    # timm FastCollateMixup: float32 mix, np.rint (half to even), back to uint8.
    xf = x.astype(np.float32)
    mixed = xf * lam4 + xf[index] * (np.float32(1) - lam4)
    want = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(got_x, want)
  else:
    xd = x.astype(np.float64)
    want = lam4 * xd + (1 - lam4) * xd[index]
    tol = _MIXUP_TOL[dtype]
    np.testing.assert_allclose(got_x.astype(np.float64), want, rtol=tol, atol=tol)
  y = _np_one_hot(ids, NUM_CLASSES)
  np.testing.assert_allclose(np.asarray(got_y), lam[:, None] * y + (1 - lam[:, None]) * y[index],
                             rtol=0, atol=1e-6)


def test_mixup_uint8_rounds_half_to_even():
  """λ = 1/2 puts mixes on .5 exactly: rint rounds half to even, not up."""
  x = jnp.asarray(np.array([[0, 1, 2, 3], [1, 2, 3, 4]], np.uint8).reshape(2, 1, 4, 1))
  out = np.asarray(jaxmix.blend(x, x[::-1], 0.5)).ravel()
  np.testing.assert_array_equal(out, np.rint(np.array([0.5, 1.5, 2.5, 3.5] * 2)))
  np.testing.assert_array_equal(out, [0, 2, 2, 4, 0, 2, 2, 4])


# ---------------------------------------------------------------------------
# Random erasing: timm / torchvision `RandomErasing`'s sequential attempt loop.
# ---------------------------------------------------------------------------

def timm_erasing_loop(height, width, targets, log_ratios, u_y, u_x):
  """timm `RandomErasing._erase` attempt loop on given draws; returns a box or None.

    for attempt in range(10):
      target_area = random.uniform(min_area, max_area) * area
      aspect_ratio = math.exp(random.uniform(*log_aspect_ratio))
      h = int(round(math.sqrt(target_area * aspect_ratio)))
      w = int(round(math.sqrt(target_area / aspect_ratio)))
      if w < img_w and h < img_h:
        top = random.randint(0, img_h - h); left = random.randint(0, img_w - w)
        ...; break
  `targets` are already multiplied by the area; the corner uses the given uniforms
  mapped onto randint's inclusive range.
  """
  for target_area, log_r in zip(targets, log_ratios):
    aspect_ratio = math.exp(log_r)
    h = int(round(math.sqrt(target_area * aspect_ratio)))
    w = int(round(math.sqrt(target_area / aspect_ratio)))
    if w < width and h < height:
      top = min(int(math.floor(u_y * (height - h + 1))), height - h)
      left = min(int(math.floor(u_x * (width - w + 1))), width - w)
      return top, top + h, left, left + w
  return None


def _erasing_draws(k, height, width, area, aspect, attempts):
  """random_erasing's elem draw for one sample key, per its code path."""
  k_apply, k_box = jax.random.split(k)
  k_area, k_aspect, k_y, k_x = jax.random.split(k_box, 4)
  targets = np.asarray(jax.random.uniform(k_area, (attempts,), minval=area[0],
                                          maxval=area[1])) * (height * width)
  log_r = np.asarray(jax.random.uniform(k_aspect, (attempts,), minval=jnp.log(aspect[0]),
                                        maxval=jnp.log(aspect[1])))
  u_y, u_x = float(jax.random.uniform(k_y)), float(jax.random.uniform(k_x))
  return k_apply, k_box, targets, log_r, u_y, u_x


def _rounding_boundary(targets, log_r):
  """sqrt(t·r) or sqrt(t/r) within 1e-4 of a .5 (float32 vs float64 round)."""
  r = np.exp(log_r.astype(np.float64))
  v = np.concatenate([np.sqrt(targets * r), np.sqrt(targets / r)])
  return bool((np.abs(v - np.floor(v) - 0.5) < 1e-4).any())


@hypothesis.given(seed=SEEDS, area=st.sampled_from([(0.02, 1 / 3), (0.3, 0.9)]),
                  aspect=st.sampled_from([(0.3, 1 / 0.3), (1.0, 1.0), (2.0, 4.0)]))
@SETTINGS
def test_erasing_box_is_first_valid_attempt(seed, area, aspect):
  height, width, attempts = 16, 20, 10
  key = _key(seed)
  _, k_box, targets, log_r, u_y, u_x = _erasing_draws(key, height, width, area, aspect,
                                                      attempts)
  hypothesis.assume(not _rounding_boundary(targets, log_r))
  box, found = jaxmix.sample_erasing_box(k_box, height, width, area=area, aspect=aspect,
                                         attempts=attempts)
  want = timm_erasing_loop(height, width, targets, log_r, u_y, u_x)
  assert bool(found) == (want is not None)
  if want is not None:
    assert _box_tuple(box) == want
    y1, y2, x1, x2 = want
    h, w = y2 - y1, x2 - x1
    # A rectangle of the requested area and aspect, up to rounding of its sides.
    assert area[0] * height * width - (h + w) / 2 - 0.25 <= h * w
    assert h * w <= area[1] * height * width + (h + w) / 2 + 0.25
    assert aspect[0] * (w - 0.5) / (w + 0.5) - 1e-6 <= h / w
    assert h / w <= aspect[1] * (w + 0.5) / (w - 0.5) + 1e-6


@hypothesis.given(seed=SEEDS, prob=st.sampled_from([1.0, 0.5]),
                  data_format=st.sampled_from(["NHWC", "NCHW"]))
@SETTINGS
def test_random_erasing_erases_exactly_the_box(seed, prob, data_format):
  batch, height, width, attempts = 4, 16, 20, 10
  area, aspect = (0.02, 1 / 3), (0.3, 1 / 0.3)
  key = _key(seed)
  # Nonzero pixels so that an erased (0) pixel is unambiguous.
  x = (_images(seed, (batch, height, width, 3), np.uint8) % 254 + 1).astype(np.uint8)
  x_in = x if data_format == "NHWC" else x.transpose(0, 3, 1, 2)
  got = np.asarray(jaxmix.random_erasing(key, jnp.asarray(x_in), prob=prob, area=area,
                                         aspect=aspect, attempts=attempts,
                                         data_format=data_format))
  if data_format == "NCHW":
    got = got.transpose(0, 2, 3, 1)
  # random_erasing: elem draw over split(key, B); k_apply, k_box = split(k_i);
  # box from sample_erasing_box(k_box, ...); applied where found & U(k_apply) < prob.
  for i, k in enumerate(jax.random.split(key, batch)):
    k_apply, k_box, targets, log_r, u_y, u_x = _erasing_draws(k, height, width, area,
                                                              aspect, attempts)
    box, found = jaxmix.sample_erasing_box(k_box, height, width, area=area, aspect=aspect,
                                           attempts=attempts)
    apply = bool(found) and float(jax.random.uniform(k_apply)) < prob
    erased = (got[i] == 0)
    assert (erased.all(-1) == erased.any(-1)).all()  # all channels together
    want_mask = np.zeros((height, width), bool)
    if apply:
      y1, y2, x1, x2 = _box_tuple(box)
      want_mask[y1:y2, x1:x2] = True
      if not _rounding_boundary(targets, log_r):
        assert (y1, y2, x1, x2) == timm_erasing_loop(height, width, targets, log_r, u_y, u_x)
    np.testing.assert_array_equal(erased[..., 0], want_mask)
    np.testing.assert_array_equal(got[i][~want_mask], x[i][~want_mask])


def test_erasing_tiny_image_first_attempt_semantics():
  height, width, attempts = 4, 4, 10
  area, aspect = (0.02, 0.1), (0.3, 1 / 0.3)
  mismatches = []
  for seed in range(64):
    _, k_box, targets, log_r, u_y, u_x = _erasing_draws(_key(seed), height, width, area,
                                                        aspect, attempts)
    if _rounding_boundary(targets, log_r):
      continue
    box, found = jaxmix.sample_erasing_box(k_box, height, width, area=area, aspect=aspect,
                                           attempts=attempts)
    want = timm_erasing_loop(height, width, targets, log_r, u_y, u_x)
    got = _box_tuple(box) if bool(found) else None
    # An empty reference box and "not found" both erase nothing.
    area_want = 0 if want is None else (want[1] - want[0]) * (want[3] - want[2])
    area_got = 0 if got is None else (got[1] - got[0]) * (got[3] - got[2])
    if area_want == 0 and area_got == 0:
      continue
    if got != want:
      mismatches.append((seed, got, want))
  assert not mismatches, mismatches[:3]


# ---------------------------------------------------------------------------
# timm 1.0.31 (timm/data/mixup.py): the box conventions changed (issue 7, defect 4).
#   rand_bbox:        yh = clip(cy + (cut_h + 1) // 2, 0, img_h)   (exactly cut_h rows)
#   rand_bbox_minmax: yl = randint(0, img_h - cut_h + 1)           (may touch the border)
# ---------------------------------------------------------------------------

def timm1031_rand_bbox(img_shape, lam, cy, cx):
  """timm 1.0.31 `rand_bbox` (margin 0) with `cy`, `cx` standing in for its randint."""
  ratio = np.sqrt(1 - lam)
  img_h, img_w = img_shape[-2:]
  cut_h, cut_w = int(img_h * ratio), int(img_w * ratio)
  yl = np.clip(cy - cut_h // 2, 0, img_h)
  yh = np.clip(cy + (cut_h + 1) // 2, 0, img_h)
  xl = np.clip(cx - cut_w // 2, 0, img_w)
  xh = np.clip(cx + (cut_w + 1) // 2, 0, img_w)
  return int(yl), int(yh), int(xl), int(xh)


@pytest.mark.parametrize("size", [(8, 8), (7, 12), (33, 20)])
@pytest.mark.parametrize("convention", ["official", "timm"])
def test_box_conventions_equal_their_own_reference(size, convention):
  """Each named convention equals its reference for many λ and every centre; the two
  differ exactly where a cut side is odd (the official box is a pixel short)."""
  height, width = size
  lams = np.concatenate([np.random.default_rng(height + width).uniform(0, 1, 60),
                         [0.0, 0.25, 0.5, 0.75, 1.0]]).astype(np.float32)
  cy, cx = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  lam_all = np.repeat(lams, height * width)
  cy_all, cx_all = np.tile(cy.ravel(), len(lams)), np.tile(cx.ravel(), len(lams))
  got = np.stack([np.asarray(c) for c in jaxmix.box_from_centre(
      jnp.asarray(lam_all), jnp.asarray(cy_all, jnp.int32), jnp.asarray(cx_all, jnp.int32),
      height, width, box_convention=convention)], -1)
  reference = timm1031_rand_bbox if convention == "timm" else (
      lambda shape, lam, y, x: official_rand_bbox(shape[0], shape[1], lam, y, x))
  r = np.sqrt(1.0 - lam_all.astype(np.float64))
  ok = ~(_near_integer(height * r) | _near_integer(width * r))
  want = np.array([reference((height, width), np.float64(l), y, x)
                   for l, y, x in zip(lam_all[ok], cy_all[ok], cx_all[ok])])
  np.testing.assert_array_equal(got[ok], want)
  if convention == "timm":  # unclipped boxes have exactly cut_h x cut_w pixels
    cut_h, cut_w = (height * r).astype(int), (width * r).astype(int)
    inside = ok & (cy_all - cut_h // 2 >= 0) & (cy_all + (cut_h + 1) // 2 <= height) & (
        cx_all - cut_w // 2 >= 0) & (cx_all + (cut_w + 1) // 2 <= width)
    area = (got[:, 1] - got[:, 0]) * (got[:, 3] - got[:, 2])
    np.testing.assert_array_equal(area[inside], (cut_h * cut_w)[inside])
    assert inside.any()


@pytest.mark.parametrize("convention", ["official", "timm"])
def test_cutmix_box_convention_pixels_equal_reference(convention):
  """cutmix(box_convention=...) pastes exactly its reference's box (batch mode, permute)."""
  batch, height, width = 4, 9, 11
  reference = timm1031_rand_bbox if convention == "timm" else (
      lambda shape, lam, y, x: official_rand_bbox(shape[0], shape[1], lam, y, x))
  checked = 0
  for seed in range(12):
    key = _key(seed)
    x = _images(seed, (batch, height, width, 3), np.uint8)
    ids = np.arange(batch) % NUM_CLASSES
    key_partner, key_params = jax.random.split(key)
    key_lam, key_box = jax.random.split(key_params)
    lam = np.float64(np.asarray(jaxmix.sample_lam(key_lam, 1.0)))
    if _near_integer(np.array([height, width]) * np.sqrt(1 - lam)).any():
      continue
    cy, cx = (int(c) for c in jaxmix.sample_centre(key_box, height, width))
    y1, y2, x1, x2 = reference((height, width), lam, cy, cx)
    index = np.asarray(jaxmix.partner_index(key_partner, batch, "permute"))
    want = x.copy()
    want[:, y1:y2, x1:x2] = x[index][:, y1:y2, x1:x2]
    area_lam = 1 - (y2 - y1) * (x2 - x1) / (height * width)
    got_x, got_y = jaxmix.cutmix(key, jnp.asarray(x), jnp.asarray(ids), mode="batch",
                                 partner="permute", num_classes=NUM_CLASSES,
                                 box_convention=convention)
    np.testing.assert_array_equal(np.asarray(got_x), want)
    y = _np_one_hot(ids, NUM_CLASSES)
    np.testing.assert_allclose(np.asarray(got_y), area_lam * y + (1 - area_lam) * y[index],
                               atol=1e-6)
    checked += 1
  assert checked >= 8


@pytest.mark.parametrize("convention, border", [("official", 0), ("timm", 1)])
def test_minmax_corner_range_per_convention(convention, border):
  """timm 1.0.31: yl ~ randint(0, H − cut_h + 1), the box may touch the bottom/right
  border; before (our "official"), randint(0, H − cut_h), it never does."""
  height, width, n = 10, 13, 40000
  minmax = (0.2, 0.8)
  box = jax.tree.map(np.asarray, jaxmix.sample_box_minmax(
      _key(5), minmax, height, width, (n,), box_convention=convention))
  cut_h, cut_w = box.y2 - box.y1, box.x2 - box.x1
  (h_lo, h_hi), (w_lo, w_hi) = timm_minmax_ranges((height, width), minmax)
  assert cut_h.min() >= h_lo and cut_h.max() < h_hi and cut_w.min() >= w_lo and cut_w.max() < w_hi
  for side, corner, size in ((cut_h, box.y1, height), (cut_w, box.x1, width)):
    for s in np.unique(side):
      c = corner[side == s]
      assert c.min() >= 0 and c.max() <= size - s - 1 + border
      counts = np.bincount(c, minlength=size - s + border)
      assert len(counts) == size - s + border  # every corner of the range is reachable
      assert stats.chisquare(counts).pvalue > 1e-4, (s, counts)
  touches = (box.y2 == height).any() or (box.x2 == width).any()
  assert touches == bool(border)


def test_minmax_config_as_jit_argument_draws_the_eager_timm_boxes():
  """Defect 2: cutmix_minmax traced as a jit argument was rounded in float32 (H = 100,
  (0.29, 0.58): min side 29 under jit, 28 eager and in timm). Now it is static."""
  config = jaxmix.MixConfig(num_classes=4, mixup_alpha=0.0, cutmix_alpha=1.0,
                            cutmix_minmax=(0.29, 0.58), mode="elem")
  batch, height, width = 256, 100, 100
  eager = jax.tree.map(np.asarray, jaxmix.sample_mix_params(_key(0), config, batch, height,
                                                            width))
  jitted = jax.tree.map(np.asarray, jax.jit(jaxmix.sample_mix_params, static_argnums=(2, 3, 4))(
      _key(0), config, batch, height, width))
  for a, b in zip(eager["box"], jitted["box"]):
    np.testing.assert_array_equal(a, b)
  sides = set((eager["box"].y2 - eager["box"].y1).tolist())
  (h_lo, h_hi), _ = timm_minmax_ranges((height, width), (0.29, 0.58))
  assert (h_lo, h_hi) == (28, 57) and min(sides) == 28 and max(sides) == 56
  x = jnp.asarray(_images(0, (4, height, width, 1), np.uint8))
  y = jnp.arange(4)
  for a, b in zip(jaxmix.mix(_key(1), x, y, config), jax.jit(jaxmix.mix)(_key(1), x, y, config)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("dtype, num_classes", [(np.uint8, 256), (np.uint8, 300),
                                                (np.int8, 200), (np.uint16, 70000)])
def test_one_hot_ids_of_narrow_dtypes(dtype, num_classes):
  """Defect 3: ids compared in their own dtype wrapped (uint8 against arange(256)):
  NaN rows for K = 256 and two hot entries for K = 300."""
  info = np.iinfo(dtype)
  ids = np.array([0, 5, min(info.max, num_classes - 1), 1], dtype)
  rows = np.asarray(jaxmix.one_hot(jnp.asarray(ids), num_classes, smoothing=0.1))
  np.testing.assert_allclose(rows, _np_one_hot(ids.astype(np.int64), num_classes, 0.1),
                             rtol=0, atol=1e-7)
  jitted = np.asarray(jax.jit(lambda y: jaxmix.one_hot(y, num_classes))(jnp.asarray(ids)))
  np.testing.assert_array_equal(jitted, _np_one_hot(ids.astype(np.int64), num_classes))


# ---------------------------------------------------------------------------
# big_vision `utils.mixup` (n-way Mixup), float64, weights passed in:
#   alpha = jax.random.dirichlet(rng_m, jnp.array([p]*n), ashape)
#   alpha = -jnp.sort(-alpha, axis=-1)          # the image keeps the largest weight
#   mix(batch) = sum(alpha[:, i] * jnp.roll(batch, i, axis=0) for i in range(n))
# ---------------------------------------------------------------------------

def big_vision_mix(batch, alpha):
  """big_vision's `mix` of one array given the sorted weights alpha [B or 1, n]."""
  batch = np.asarray(batch, np.float64)
  out = 0
  for i in range(alpha.shape[1]):
    out = out + np.expand_dims(alpha[:, i], tuple(range(1, batch.ndim))) * np.roll(
        batch, i, axis=0)
  return out


@pytest.mark.parametrize("n, mode, batch", [(3, "elem", 6), (3, "batch", 5), (4, "elem", 7),
                                            (2, "elem", 1)])
def test_n_way_mixup_equals_big_vision(n, mode, batch):
  height, width, alpha = 5, 6, 0.4
  for seed in range(3):
    key = _key(seed)
    x = _images(seed, (batch, height, width, 3))
    ids = np.random.default_rng(seed).integers(0, NUM_CLASSES, batch)
    # mixup: key_partner, key_params = split(key); weights = sorted Dirichlet draws from
    # key_params (batch) or split(key_params, B)[i] (elem).
    _, key_params = jax.random.split(key)
    # The public samplers, vmapped over the per-sample keys (one call, not one per key).
    keys = jax.random.split(key)[1:] if mode == "batch" else jax.random.split(key_params, batch)
    if n == 2:  # two-way Mixup keeps Zhang et al.'s unsorted Beta λ (mixup_op)
      lam = np.asarray(jax.vmap(lambda k: jaxmix.sample_lam(k, alpha))(keys), np.float64)
      w = np.stack([lam, 1 - lam], -1)
    else:
      w = np.asarray(jax.vmap(lambda k: jaxmix.sample_dirichlet(k, alpha, n))(keys))
    if n > 2:
      w = -np.sort(-w, axis=-1)
      assert (w[:, 0] >= w[:, 1:].max(axis=1)).all()
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
    got_x, got_y = jaxmix.mixup(key, jnp.asarray(x), jnp.asarray(ids), alpha=alpha, mode=mode,
                                partner="roll", num_mixed=n, num_classes=NUM_CLASSES)
    np.testing.assert_allclose(np.asarray(got_x), big_vision_mix(x, w), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got_y),
                               big_vision_mix(_np_one_hot(ids, NUM_CLASSES), w), atol=1e-6)


# ---------------------------------------------------------------------------
# timm 1.0.31 `mixup_target(..., multi_label=True)`:
#   y1 = target.float() * (1. - smoothing) + 0.5 * smoothing; y2 = y1.flip(0)
#   return y1 * lam + y2 * (1. - lam)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_multi_label_targets_equal_timm(mode, smoothing):
  batch, height, width, k = 6, 8, 8, 7
  target = (np.random.default_rng(3).uniform(size=(batch, k)) < 0.4).astype(np.float32)
  config = jaxmix.MixConfig(num_classes=k, mixup_alpha=0.8, cutmix_alpha=1.0, mode=mode,
                            label_smoothing=smoothing, multi_label=True)
  for seed in range(4):
    key = _key(seed)
    x = jnp.asarray(_images(seed, (batch, height, width, 3)))
    _, key_params = jax.random.split(key)
    lam = np.broadcast_to(np.asarray(jaxmix.sample_mix_params(
        key_params, config, batch, height, width)["label_lam"], np.float64), (batch,))[:, None]
    y1 = target.astype(np.float64) * (1.0 - smoothing) + 0.5 * smoothing
    want = y1 * lam + y1[::-1] * (1.0 - lam)
    for labels in (target, target.astype(bool), target.astype(np.int32)):
      got = np.asarray(jaxmix.mix(key, x, jnp.asarray(labels), config)[1])
      np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype, exponent", [(np.uint8, 8), (np.int16, 15), (np.uint16, 16),
                                             (np.int32, 20), (np.int32, 26), (np.int32, 31)])
def test_integer_mixup_error_within_the_stated_bound(dtype, exponent):
  """Defect 6: Mixup of int32 images was documented as exact; it is the float32 blend.
  The documented bound: |result − (λ·x + (1 − λ)·x')| <= 1/2 + 2**(e − 23) for
  |x| < 2**e, i.e. the nearest integer for 8/16-bit images away from halves."""
  info = np.iinfo(dtype)
  lo, hi = max(info.min, -2 ** exponent + 1), min(info.max, 2 ** exponent - 1)
  rng = np.random.default_rng(exponent)
  x = rng.integers(lo, hi, size=(64, 4, 4, 1), endpoint=True).astype(dtype)
  lam = rng.uniform(size=64).astype(np.float32)
  got = np.asarray(jaxmix.blend(jnp.asarray(x), jnp.asarray(x[::-1]), jnp.asarray(lam)))
  lam4 = lam.astype(np.float64)[:, None, None, None]
  weight = (np.float32(1) - lam).astype(np.float64)[:, None, None, None]  # 1 − λ as in float32
  exact = lam4 * x.astype(np.float64) + weight * x[::-1].astype(np.float64)
  err = np.abs(got.astype(np.float64) - exact)
  assert err.max() <= 0.5 + 2.0 ** (exponent - 23), err.max()
  if exponent <= 16:  # away from halves: the nearest integer
    away = np.abs(exact - np.floor(exact) - 0.5) > 2.0 ** (exponent - 23)
    np.testing.assert_array_equal(got[away], np.rint(exact[away]).astype(dtype))
  assert "2**(e − 23)" in jaxmix.blend.__doc__  # the bound is stated where users read it
