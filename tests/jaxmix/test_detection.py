"""Detection targets: occluded, clipped, resized and masked boxes against pixel-set re-statements.

The reference rasterizes: with integer corners, a box is the set of unit pixels it
covers, so "what stays visible" is a set difference whose bounding box and size
are counted directly, independently of the interval arithmetic under test.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix
from jaxmix._src import boxes as boxes_lib
from jaxmix._src import detection

H, W = 12, 16


def pixels(b):
  x1, y1, x2, y2 = (int(v) for v in b)
  return {(y, x) for y in range(y1, y2) for x in range(x1, x2)}


def bbox(pix):
  ys, xs = [p[0] for p in pix], [p[1] for p in pix]
  return [min(xs), min(ys), max(xs) + 1, max(ys) + 1]


def random_boxes(rng, n):
  x = np.sort(rng.integers(0, W + 1, (n, 2)), axis=1)
  y = np.sort(rng.integers(0, H + 1, (n, 2)), axis=1)
  return np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1).astype(np.float32)


def ref_occlude(b, region, min_visible):
  own, cover = pixels(b), pixels(region)
  left = own - cover
  if not own or not left or len(left) / len(own) < min_visible:
    return None
  return bbox(left)


def ref_clip(b, region, min_visible):
  own = pixels(b)
  seen = own & pixels(region)
  if not own or not seen or len(seen) / len(own) < min_visible:
    return None
  return bbox(seen)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("normalized", [False, True])
def test_occlude_and_clip_match_pixel_sets(seed, normalized):
  rng = np.random.default_rng(seed)
  coords = random_boxes(rng, 40)[None]
  valid = jnp.asarray(rng.random((1, 40)) < 0.9)
  region = random_boxes(rng, 1)[0]
  if seed % 2:  # a band across the whole width cuts boxes from above or below
    region[0], region[2] = 0, W
  scale = np.array([W, H, W, H], np.float32) if normalized else np.float32(1)
  for min_visible in (0.0001, 0.3, 0.7):
    got_o = detection.occlude(jnp.asarray(coords / scale), valid, jnp.asarray(region / scale),
                              min_visible)
    got_c = detection.clip_to(jnp.asarray(coords / scale), valid, jnp.asarray(region / scale),
                              min_visible)
    for (out, keep), ref in ((got_o, ref_occlude), (got_c, ref_clip)):
      for i in range(40):
        want = ref(coords[0, i], region, min_visible) if bool(valid[0, i]) else None
        assert bool(keep[0, i]) == (want is not None), (ref.__name__, i, coords[0, i], region)
        if want is None:
          np.testing.assert_array_equal(np.asarray(out[0, i]), 0.0)
        else:
          np.testing.assert_allclose(np.asarray(out[0, i]) * scale, want, atol=1e-4)


def test_occlude_per_image_regions():
  coords = jnp.asarray([[[0, 0, 10, 10]], [[0, 0, 10, 10]]], jnp.float32)
  regions = jnp.asarray([[0, 0, 10, 4], [6, 0, 10, 10]], jnp.float32)
  out, keep = detection.occlude(coords, jnp.ones((2, 1), bool), regions, 0.1)
  np.testing.assert_array_equal(np.asarray(out[:, 0]), [[0, 4, 10, 10], [0, 0, 6, 10]])
  assert bool(keep.all())


def test_map_into_scales_whole_image_boxes_into_the_region():
  coords = jnp.asarray([[[0, 0, W, H], [4, 3, 8, 6]]], jnp.float32)
  region = jnp.asarray([2, 6, 10, 12], jnp.float32)  # 8 × 6 for a 16 × 12 image: half size
  out, keep = detection.map_into(coords, jnp.ones((1, 2), bool), region, H, W)
  np.testing.assert_allclose(np.asarray(out[0]), [[2, 6, 10, 12], [4, 7.5, 6, 9]])
  assert bool(keep.all())
  _, keep = detection.map_into(coords, jnp.ones((1, 2), bool), jnp.asarray([3, 3, 3, 9.]), H, W)
  assert not bool(keep.any())


def ref_through_mask(b, mask, min_visible):
  x1, y1, x2, y2 = b
  cover = [(y, x) for y in range(mask.shape[0]) for x in range(mask.shape[1])
           if y1 <= y + 0.5 < y2 and x1 <= x + 0.5 < x2]
  if not cover:
    return None
  frac = np.mean([mask[p] for p in cover])
  shown = [p for p in cover if mask[p] > 0]
  if not shown or frac < min_visible:
    return None
  bx = bbox(shown)
  out = [max(x1, bx[0]), max(y1, bx[1]), min(x2, bx[2]), min(y2, bx[3])]
  return out if (out[2] - out[0]) * (out[3] - out[1]) > 0 else None


@pytest.mark.parametrize("seed", range(4))
def test_through_mask_matches_pixel_counts(seed):
  rng = np.random.default_rng(seed)
  coords = random_boxes(rng, 30) + rng.uniform(-0.4, 0.4, (30, 4)).astype(np.float32)
  coords = np.clip(coords, 0, [W, H, W, H]).astype(np.float32)
  mask = (rng.random((H, W)) < 0.6).astype(np.float32)
  if seed == 3:
    mask = mask * rng.uniform(0, 1, (H, W)).astype(np.float32)  # soft
  for min_visible in (0.0, 0.5):
    out, keep = detection.through_mask(jnp.asarray(coords)[None], jnp.ones((1, 30), bool),
                                       jnp.asarray(mask)[None], min_visible)
    for i in range(30):
      want = ref_through_mask(coords[i], mask, min_visible)
      assert bool(keep[0, i]) == (want is not None), (i, coords[i])
      if want is not None:
        np.testing.assert_allclose(np.asarray(out[0, i]), want, atol=1e-5)


def test_through_mask_normalized_equals_pixels():
  rng = np.random.default_rng(9)
  coords = random_boxes(rng, 10)
  mask = jnp.asarray(rng.random((2, H, W)) < 0.5, jnp.float32)
  scale = np.array([W, H, W, H], np.float32)
  c2 = jnp.asarray(np.stack([coords, coords[::-1]]))
  px, kp = detection.through_mask(c2, jnp.ones((2, 10), bool), mask, 0.2)
  nm, kn = detection.through_mask(c2 / scale, jnp.ones((2, 10), bool), mask, 0.2, normalized=True)
  np.testing.assert_array_equal(np.asarray(kp), np.asarray(kn))
  np.testing.assert_allclose(np.asarray(nm) * scale, np.asarray(px), atol=1e-4)


def test_region_from_box_and_combine_pad_to_2n():
  box = boxes_lib.Box(jnp.int32(2), jnp.int32(6), jnp.int32(4), jnp.int32(12))
  np.testing.assert_allclose(np.asarray(detection.region_from_box(box, H, W, False)),
                             [4, 2, 12, 6])
  np.testing.assert_allclose(np.asarray(detection.region_from_box(box, H, W, True)),
                             [4 / W, 2 / H, 12 / W, 6 / H])
  dets = detection.check_detections({"boxes": jnp.ones((2, 3, 4)),
                                     "classes": jnp.arange(6).reshape(2, 3)}, 2)
  partner = jax.tree.map(lambda x: x[::-1], dets)
  out = detection.combine(dets, partner, dets["boxes"], dets["valid"], partner["boxes"],
                          jnp.zeros((2, 3), bool), weights=(jnp.asarray([0.25, 0.5]), 0.5))
  assert out["boxes"].shape == (2, 6, 4) and out["valid"].shape == (2, 6)
  np.testing.assert_array_equal(np.asarray(out["classes"]), [[0, 1, 2, 3, 4, 5], [3, 4, 5, 0, 1, 2]])
  np.testing.assert_allclose(np.asarray(out["weights"]),
                             [[0.25] * 3 + [0] * 3, [0.5] * 3 + [0] * 3])
  with pytest.raises(ValueError, match="boxes must have shape"):
    detection.check_detections({"boxes": jnp.ones((2, 3))}, 2)
  with pytest.raises(ValueError, match="leading shape"):
    detection.check_detections({"boxes": jnp.ones((2, 3, 4)), "classes": jnp.ones((2, 4))}, 2)


# ---- the ops: boxes follow the pixels ------------------------------------------------------

B = 4


def coded_images():
  code = np.arange(B * H * W, dtype=np.int32).reshape(B, H, W)
  return jnp.asarray(np.stack([code, code % 5], -1).astype(np.float32)), code


def ref_visible_box(b, source_ok, min_visible):
  """Pixel-set restatement: pixels of box b (by centre) whose source is the box's own."""
  x1, y1, x2, y2 = b
  cover = [(y, x) for y in range(H) for x in range(W) if y1 <= y + 0.5 < y2 and x1 <= x + 0.5 < x2]
  if not cover:
    return None
  shown = [p for p in cover if source_ok[p]]
  if not shown or len(shown) / len(cover) < min_visible:
    return None
  bx = bbox(shown)
  return [max(x1, bx[0]), max(y1, bx[1]), min(x2, bx[2]), min(y2, bx[3])]


@pytest.mark.parametrize("normalized", [False, True])
@pytest.mark.parametrize("mode,partner", [("elem", "permute"), ("batch", "roll"), ("pair", "flip")])
@pytest.mark.parametrize("op", ["cutmix", "saliencymix", "fmix"])
def test_boxes_shrink_to_the_visible_pixels_of_their_source(op, mode, partner, normalized):
  if normalized and mode != "elem":
    pytest.skip("normalized coordinates are checked on one pairing")
  rng = np.random.default_rng(len(op) + len(mode))
  images, _ = coded_images()
  n = 6
  coords = np.stack([random_boxes(rng, n) for _ in range(B)])
  coords[:, 0] = [0, 0, W, H]  # one box covers the whole image
  scale = np.array([W, H, W, H], np.float32) if normalized else np.float32(1)
  dets = {"boxes": jnp.asarray(coords / scale), "classes": jnp.arange(B * n).reshape(B, n)}
  key = jax.random.key(3)
  out_img, _, out = jaxmix.OPS[op](key, images, jnp.arange(B), num_classes=B, mode=mode,
                                   partner=partner, boxes=dets, min_visible=0.3,
                                   normalized_boxes=normalized)
  source = np.asarray(out_img)[..., 0].astype(np.int64) // (H * W)
  classes = np.asarray(out["classes"])
  assert out["boxes"].shape == (B, 2 * n, 4)
  for i in range(B):
    partner_i = int(classes[i, n]) // n  # the partner's boxes carry its classes
    if partner_i == i:
      continue  # paired with itself (permute): the pixels cannot tell the sources apart
    for slot in range(2 * n):
      src = i if slot < n else partner_i
      original = coords[src, slot % n]
      # With integer corners, the interval arithmetic of CutMix must agree with pixel sets.
      want = ref_visible_box(original, source[i] == src, 0.3)
      got_valid = bool(out["valid"][i, slot])
      assert got_valid == (want is not None), (op, i, slot, original)
      if want is not None:
        np.testing.assert_allclose(np.asarray(out["boxes"][i, slot]) * scale, want, atol=1e-4)


def test_mixup_keeps_both_box_sets_weighted_by_lam():
  images, _ = coded_images()
  coords = np.stack([random_boxes(np.random.default_rng(i), 3) for i in range(B)])
  out_img, rows, out = jaxmix.OPS["mixup"](jax.random.key(1), images, jnp.arange(B),
                                           num_classes=B, mode="elem",
                                           boxes={"boxes": jnp.asarray(coords)})
  rows = np.asarray(rows)
  lam = rows[np.arange(B), np.arange(B)]
  np.testing.assert_allclose(np.asarray(out["boxes"][:, :3]), coords)
  np.testing.assert_allclose(np.asarray(out["boxes"][:, 3:]), coords[::-1])
  np.testing.assert_allclose(np.asarray(out["weights"]),
                             np.repeat(np.stack([lam, 1 - lam], 1), 3, axis=1), atol=1e-6)


def test_resizemix_partner_boxes_land_on_the_resized_partner():
  images, _ = coded_images()
  coords = np.zeros((B, 1, 4), np.float32)
  coords[:, 0] = [0, 0, W, H]
  out_img, _, out = jaxmix.OPS["resizemix"](jax.random.key(2), images, jnp.arange(B),
                                            num_classes=B, mode="elem", scale=(0.4, 0.9),
                                            boxes={"boxes": jnp.asarray(coords)})
  source = np.asarray(out_img)[..., 0].astype(np.int64) // (H * W)
  for i in range(B):
    pasted = source[i] != i
    if not pasted.any():
      assert not bool(out["valid"][i, 1])
      continue
    assert bool(out["valid"][i, 1])  # the whole partner box = the patch
    np.testing.assert_allclose(np.asarray(out["boxes"][i, 1]), bbox(
        {tuple(p) for p in np.argwhere(pasted)}), atol=1e-5)


def test_cutout_cuts_boxes_and_keeps_n_slots():
  images, _ = coded_images()
  coords = np.stack([random_boxes(np.random.default_rng(i + 7), 5) for i in range(B)])
  out_img, _, out = jaxmix.OPS["cutout"](jax.random.key(4), images, None, size=6, fill=-1,
                                         boxes={"boxes": jnp.asarray(coords)}, min_visible=0.5)
  shown = np.asarray(out_img)[..., 0] != -1
  assert out["boxes"].shape == (B, 5, 4)
  for i in range(B):
    for j in range(5):
      want = ref_visible_box(coords[i, j], shown[i], 0.5)
      assert bool(out["valid"][i, j]) == (want is not None)
      if want is not None:
        # Cutout's square is a rectangle: exact cut only where it spans the box;
        # otherwise the box is kept whole, a superset of the visible pixels.
        got = np.asarray(out["boxes"][i, j])
        assert got[0] <= want[0] and got[1] <= want[1] and got[2] >= want[2] and got[3] >= want[3]
