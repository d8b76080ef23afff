"""GridMix against a NumPy restatement of openmixup's `gridmix` (`rand_grid`), float64.

openmixup (Westlake-AI/openmixup, `openmixup/models/augments/gridmix.py`, after
IlyaDobrynin/GridMixup), with its draws passed in:
  cut_area = int(H*W*car); cut_w = int(sqrt(cut_area / cap)); cut_h = int(cut_w * cap)
  xc1 = int((W - cut_w) * cx); yc1 = int((H - cut_h) * cy)
  patch_w = ceil(cut_w / n); patch_h = int(patch_w * har); ny = ceil(cut_h / patch_h)
  hole = clip(int(patch * sqrt(1 - lam)), 1, patch - 1) per side
  holes at (patch_w*i, patch_h*j), i <= n, j <= ny, clipped to the crop
  img = img * (1 - mask) + img_[perm] * mask;  lam = 1 - mask.mean()
Square images only (openmixup swaps H and W otherwise); draws where openmixup's crop leaves
the image or n > cut_w // 2 (it would index from the end / assert) are skipped, as are draws
where float32 and float64 floors differ.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix
from tests.jaxmix.variant_utils import elem_words
from jaxmix._src import gridmix as gridmix_lib


def openmixup_rand_grid(size, lam, n_holes, har, car, cap, cy, cx):
  """openmixup's `rand_grid` for a square image of side `size`; None where it breaks."""
  cut_area = int(size * size * car)
  cut_w = int(np.sqrt(cut_area / cap))
  cut_h = int(cut_w * cap)
  if cut_h > size or cut_w > size or not 1 <= n_holes <= cut_w // 2:
    return None
  xc1, yc1 = int((size - cut_w) * cx), int((size - cut_h) * cy)
  patch_w = math.ceil(cut_w / n_holes)
  patch_h = int(patch_w * har)
  if patch_h < 1:
    return None
  ny = math.ceil(cut_h / patch_h)
  ratio = np.sqrt(1 - lam)
  hole_w = min(max(int(patch_w * ratio), 1), patch_w - 1)
  hole_h = min(max(int(patch_h * ratio), 1), patch_h - 1)
  mask = np.zeros((size, size))
  for i in range(n_holes + 1):
    for j in range(ny + 1):
      x1, y1 = min(patch_w * i, cut_w), min(patch_h * j, cut_h)
      x2, y2 = min(x1 + hole_w, cut_w), min(y1 + hole_h, cut_h)
      mask[yc1 + y1:yc1 + y2, xc1 + x1:xc1 + x2] = 1.0
  return mask


def _floors_agree(size, lam, n_holes, har, car, cap, cy, cx):
  """The reference's integer steps give the same in float32 (jaxmix) and float64."""
  def steps(f):
    cut_area = np.floor(f(size * size) * f(car))
    cut_w = np.floor(np.sqrt(f(cut_area) / f(cap)))
    cut_h = np.floor(f(cut_w) * f(cap))
    patch_w = math.ceil(cut_w / n_holes) if cut_w else 0
    patch_h = np.floor(f(patch_w) * f(har))
    r = np.sqrt(f(1) - f(lam))
    return (cut_area, cut_w, cut_h, np.floor(f(size - cut_w) * f(cx)),
            np.floor(f(size - cut_h) * f(cy)), patch_h, np.floor(f(patch_w) * r),
            np.floor(f(patch_h) * r))
  return steps(np.float32) == steps(np.float64)


@pytest.mark.parametrize("size", [8, pytest.param(12, marks=pytest.mark.slow), 32])
def test_gridmix_equals_openmixup_given_the_draws(size):
  batch, k = 6, 5
  options = dict(alpha=1.0, n_holes=(1, 4), hole_aspect_ratio=(0.7, 1.5),
                 cut_area_ratio=(0.4, 1.0), cut_aspect_ratio=(0.6, 1.6))
  checked = 0
  for seed in range(10):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, size, size, 3)).astype(np.float32)
    ids = rng.integers(0, k, batch)
    key = jax.random.key(seed)
    got_x, got_y = jaxmix.gridmix(key, jnp.asarray(x), jnp.asarray(ids), num_classes=k,
                                  mode="elem", partner="flip", **options)
    # mixing.py: elem: row i of the key's words from word 1 on.
    words = elem_words(key, batch, gridmix_lib.NUM_WORDS)
    for i in range(batch):
      p = {n: float(v) for n, v in gridmix_lib.params_from_words(words[i], **options).items()}
      draw = (size, p["lam"], int(p["n_holes"]), p["hole_aspect_ratio"], p["cut_area_ratio"],
              p["cut_aspect_ratio"], p["cy"], p["cx"])
      mask = openmixup_rand_grid(*draw)
      if mask is None or not _floors_agree(*draw):
        continue
      partner = batch - 1 - i
      want = x[i] * (1 - mask[..., None]) + x[partner] * mask[..., None]
      np.testing.assert_array_equal(np.asarray(got_x[i]), want.astype(np.float32))
      lam = 1.0 - mask.mean()
      rows = np.eye(k)[ids[i]] * lam + np.eye(k)[ids[partner]] * (1.0 - lam)
      np.testing.assert_allclose(np.asarray(got_y[i]), rows, rtol=0, atol=1e-6)
      checked += mask.any()
  assert checked >= 10


def test_grid_mask_clips_a_crop_larger_than_the_image_and_caps_the_holes():
  # area 1, aspect 2 on 8×8: cut_w = ⌊√32⌋ = 5, cut_h = 10 > 8 → clipped to 8 rows.
  m = np.asarray(jaxmix.grid_mask(0.0, 9, 1.0, 1.0, 2.0, 0.5, 0.0, 8, 8))
  assert m[:, 5:].sum() == 0            # nothing right of the 5-wide crop
  assert m[7].any() or m[6].any()       # holes reach the clipped crop's last rows
  # n = 9 > cut_w // 2 = 2: capped to 2 patches of width 3, holes of width 2 (λ = 0).
  np.testing.assert_array_equal(m[0, :5], [1, 1, 0, 1, 1])
