"""timm 1.0.31: its box conventions, `cutmix_minmax` draws, narrow label dtypes and
multi-label targets."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxmix
from tests.jaxmix.reference_utils import (NUM_CLASSES, near_integer, np_one_hot, official_rand_bbox,
                                  prng_key, random_images, timm_minmax_ranges)


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
  ok = ~(near_integer(height * r) | near_integer(width * r))
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
    key = prng_key(seed)
    x = random_images(seed, (batch, height, width, 3), np.uint8)
    ids = np.arange(batch) % NUM_CLASSES
    # cutmix, batch mode: row 0 of the key's words; λ words 1-4, centre 5-8; permute
    # partners from split(key)[0].
    key_partner = jax.random.split(key)[0]
    lam = np.float64(np.asarray(jaxmix.sample_lam(key, 1.0, offset=1)))
    if near_integer(np.array([height, width]) * np.sqrt(1 - lam)).any():
      continue
    cy, cx = (int(c) for c in jaxmix.sample_centre(key, height, width, offset=1 + 4))
    y1, y2, x1, x2 = reference((height, width), lam, cy, cx)
    index = np.asarray(jaxmix.partner_index(key_partner, batch, "permute"))
    want = x.copy()
    want[:, y1:y2, x1:x2] = x[index][:, y1:y2, x1:x2]
    area_lam = 1 - (y2 - y1) * (x2 - x1) / (height * width)
    got_x, got_y = jaxmix.cutmix(key, jnp.asarray(x), jnp.asarray(ids), mode="batch",
                                 partner="permute", num_classes=NUM_CLASSES,
                                 box_convention=convention)
    np.testing.assert_array_equal(np.asarray(got_x), want)
    y = np_one_hot(ids, NUM_CLASSES)
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
      prng_key(5), minmax, height, width, (n,), box_convention=convention))
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
  eager = jax.tree.map(np.asarray, jaxmix.sample_mix_params(prng_key(0), config, batch, height,
                                                            width))
  jitted = jax.tree.map(np.asarray, jax.jit(jaxmix.sample_mix_params, static_argnums=(2, 3, 4))(
      prng_key(0), config, batch, height, width))
  for a, b in zip(eager["box"], jitted["box"]):
    np.testing.assert_array_equal(a, b)
  sides = set((eager["box"].y2 - eager["box"].y1).tolist())
  (h_lo, h_hi), _ = timm_minmax_ranges((height, width), (0.29, 0.58))
  assert (h_lo, h_hi) == (28, 57) and min(sides) == 28 and max(sides) == 56
  x = jnp.asarray(random_images(0, (4, height, width, 1), np.uint8))
  y = jnp.arange(4)
  for a, b in zip(jaxmix.mix(prng_key(1), x, y, config), jax.jit(jaxmix.mix)(prng_key(1), x, y, config)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("dtype, num_classes", [(np.uint8, 256), (np.uint8, 300),
                                                (np.int8, 200), (np.uint16, 70000)])
def test_one_hot_ids_of_narrow_dtypes(dtype, num_classes):
  """Defect 3: ids compared in their own dtype wrapped (uint8 against arange(256)):
  NaN rows for K = 256 and two hot entries for K = 300."""
  info = np.iinfo(dtype)
  ids = np.array([0, 5, min(info.max, num_classes - 1), 1], dtype)
  rows = np.asarray(jaxmix.one_hot(jnp.asarray(ids), num_classes, smoothing=0.1))
  np.testing.assert_allclose(rows, np_one_hot(ids.astype(np.int64), num_classes, 0.1),
                             rtol=0, atol=1e-7)
  jitted = np.asarray(jax.jit(lambda y: jaxmix.one_hot(y, num_classes))(jnp.asarray(ids)))
  np.testing.assert_array_equal(jitted, np_one_hot(ids.astype(np.int64), num_classes))


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
    key = prng_key(seed)
    x = jnp.asarray(random_images(seed, (batch, height, width, 3)))
    lam = np.broadcast_to(np.asarray(jaxmix.sample_mix_params(
        key, config, batch, height, width)["label_lam"], np.float64), (batch,))[:, None]
    y1 = target.astype(np.float64) * (1.0 - smoothing) + 0.5 * smoothing
    want = y1 * lam + y1[::-1] * (1.0 - lam)
    for labels in (target, target.astype(bool), target.astype(np.int32)):
      got = np.asarray(jaxmix.mix(key, x, jnp.asarray(labels), config)[1])
      np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
