"""ResizeMix: PyTorch's `interpolate` nearest / bilinear (align_corners=False)
formulas and openmixup's `rand_bbox_tao` box, restated in NumPy."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix
from jaxmix._src import resize
from jaxmix._src import resizemix
from tests.jaxmix.variant_utils import coded, elem_words


def ref_nearest(src, out_h, out_w):
  """PyTorch `interpolate(mode="nearest")`: source index ⌊dst · in / out⌋."""
  h, w = src.shape[:2]
  ys = [min((i * h) // out_h, h - 1) for i in range(out_h)]
  xs = [min((j * w) // out_w, w - 1) for j in range(out_w)]
  return src[ys][:, xs]


def ref_bilinear(src, out_h, out_w):
  """PyTorch `interpolate(mode="bilinear", align_corners=False)` (no antialias)."""
  h, w = src.shape[:2]
  src = src.astype(np.float64)
  out = np.zeros((out_h, out_w) + src.shape[2:])
  for i in range(out_h):
    y = max((i + 0.5) * h / out_h - 0.5, 0.0)
    y0 = min(int(math.floor(y)), h - 1)
    y1, ly = min(y0 + 1, h - 1), y - y0
    for j in range(out_w):
      x = max((j + 0.5) * w / out_w - 0.5, 0.0)
      x0 = min(int(math.floor(x)), w - 1)
      x1, lx = min(x0 + 1, w - 1), x - x0
      out[i, j] = ((1 - ly) * ((1 - lx) * src[y0, x0] + lx * src[y0, x1])
                   + ly * ((1 - lx) * src[y1, x0] + lx * src[y1, x1]))
  return out


def ref_rand_bbox_tao(h, w, tau, cy, cx):
  cut_h, cut_w = int(h * tau), int(w * tau)
  return (np.clip(cy - cut_h // 2, 0, h), np.clip(cy + cut_h // 2, 0, h),
          np.clip(cx - cut_w // 2, 0, w), np.clip(cx + cut_w // 2, 0, w))


@pytest.mark.parametrize("method", ["nearest", "bilinear"])
@pytest.mark.parametrize("h,w", [(16, 16), (9, 13), (5, 3)])
def test_resize_into_box_matches_torch_formulas(method, h, w):
  rng = np.random.default_rng(h * w)
  image = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
  partner = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
  for tau, cy, cx in [(0.5, h // 2, w // 2), (0.8, 0, w - 1), (0.31, h - 1, 1), (0.05, 2, 2)]:
    y1, y2, x1, x2 = ref_rand_bbox_tao(h, w, tau, cy, cx)
    box = resizemix.box_from_scale(tau, jnp.int32(cy), jnp.int32(cx), h, w)
    assert tuple(int(c) for c in box) == (y1, y2, x1, x2)
    got = np.asarray(resize.resize_into_box(jnp.asarray(image), jnp.asarray(partner), box,
                                               method=method))
    want = image.copy()
    if y2 > y1 and x2 > x1:
      if method == "nearest":
        want[y1:y2, x1:x2] = ref_nearest(partner, y2 - y1, x2 - x1)
      else:
        patch = ref_bilinear(partner, y2 - y1, x2 - x1)
        want[y1:y2, x1:x2] = np.clip(np.round(patch), 0, 255).astype(np.uint8)
    assert got.dtype == np.uint8
    if method == "nearest":
      np.testing.assert_array_equal(got, want)
    else:  # float32 here, float64 there: a value on a .5 boundary may round either way
      assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_resize_into_boxes_batch_and_per_sample_boxes():
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.random((3, 8, 10, 2)), jnp.float32)
  partners = jnp.asarray(rng.random((3, 8, 10, 2)), jnp.float32)
  box = resizemix.box_from_scale(jnp.asarray([0.5, 0.7, 0.2]), jnp.asarray([4, 0, 7]),
                                 jnp.asarray([5, 9, 0]), 8, 10)
  got = resize.resize_into_boxes(images, partners, box)
  for i in range(3):
    y1, y2, x1, x2 = (int(c[i]) for c in box)
    want = np.asarray(images[i]).copy()
    want[y1:y2, x1:x2] = ref_nearest(np.asarray(partners[i]), y2 - y1, x2 - x1)
    np.testing.assert_array_equal(np.asarray(got[i]), want)


def test_resizemix_scale_draws_stay_in_range():
  taus = jax.vmap(lambda k: resizemix.sample_box(k, 20, 20, (0.3, 0.6))[1])(
      jax.random.split(jax.random.key(0), 500))  # 500 keys, row 0 of each
  assert float(taus.min()) >= 0.3 and float(taus.max()) <= 0.6
  assert float(taus.max()) - float(taus.min()) > 0.25
  with pytest.raises(ValueError, match="scale"):
    resizemix.sample_box(jax.random.key(0), 8, 8, (0.5, 0.2))


def test_resizemix_pastes_the_resized_partner_on_the_documented_draws():
  b, h, w = 3, 12, 14
  images = coded(b, h, w)
  key = jax.random.key(4)
  out, rows = jaxmix.resizemix(key, images, jnp.arange(b), num_classes=b, mode="elem",
                               partner="roll", scale=(0.2, 0.9))
  # Sample i reads row i of the key's words: the gate (word 0), τ (word 1, a
  # uniform ((w >> 9) + ½)·2⁻²³ scaled to the range), the centre (words 2-5).
  words = np.asarray(elem_words(key, b, resizemix.NUM_WORDS))
  cys, cxs = jaxmix.sample_centre(key, h, w, (b,), offset=2)
  for i in range(b):
    unit = np.float32(((words[i, 0] >> 9) + 0.5) * 2.0 ** -23)
    tau = np.float32(0.2) + (np.float32(0.9) - np.float32(0.2)) * unit
    cy, cx = int(cys[i]), int(cxs[i])
    y1, y2, x1, x2 = ref_rand_bbox_tao(h, w, np.float32(tau), cy, cx)
    want = np.asarray(images[i]).copy()
    if y2 > y1 and x2 > x1:
      want[y1:y2, x1:x2] = ref_nearest(np.asarray(images[(i - 1) % b]), y2 - y1, x2 - x1)
    np.testing.assert_array_equal(np.asarray(out[i]), want)
    assert float(rows[i, i]) == pytest.approx(1 - (y2 - y1) * (x2 - x1) / (h * w), abs=1e-6)
