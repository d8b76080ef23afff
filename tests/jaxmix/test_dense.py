"""Dense (per-pixel) targets: paste, blend and erase against NumPy re-statements."""

import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix
from jaxmix._src import dense

IGNORE = 255


def ref_one_hot(t, k, ignore):
  out = np.zeros(t.shape + (k,), np.float64)
  for idx in np.ndindex(t.shape):
    if t[idx] != ignore and 0 <= t[idx] < k:
      out[idx + (int(t[idx]),)] = 1.0
  return out


def test_paste_dense_integer_and_soft():
  rng = np.random.default_rng(0)
  t = rng.integers(0, 5, (3, 6, 7)).astype(np.int32)
  p = rng.integers(0, 5, (3, 6, 7)).astype(np.int32)
  mask = rng.random((3, 6, 7)) < 0.4
  got = dense.paste_dense(jnp.asarray(t), jnp.asarray(p), jnp.asarray(mask))
  want = t.copy()
  want[mask] = p[mask]
  np.testing.assert_array_equal(np.asarray(got), want)
  assert got.dtype == jnp.int32
  soft, psoft = rng.random((3, 6, 7, 4)), rng.random((3, 6, 7, 4))
  for fmt in ("NHWC", "NCHW"):
    s, ps = (soft, psoft) if fmt == "NHWC" else (soft.transpose(0, 3, 1, 2),
                                                 psoft.transpose(0, 3, 1, 2))
    got = np.asarray(dense.paste_dense(jnp.asarray(s), jnp.asarray(ps), jnp.asarray(mask), fmt))
    if fmt == "NCHW":
      got = got.transpose(0, 2, 3, 1)
    want = np.where(mask[..., None], psoft, soft)
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("weight_kind", ["scalar", "per_image", "per_pixel"])
def test_blend_dense_integer_maps_become_rows(weight_kind):
  rng = np.random.default_rng(1)
  t = rng.integers(0, 4, (2, 5, 6)).astype(np.uint8)
  p = rng.integers(0, 4, (2, 5, 6)).astype(np.uint8)
  t[0, 0, :3] = IGNORE
  w = {"scalar": np.float32(0.3), "per_image": np.float32([0.2, 0.9]),
       "per_pixel": rng.random((2, 5, 6)).astype(np.float32)}[weight_kind]
  got = dense.blend_dense(jnp.asarray(t), jnp.asarray(p), jnp.asarray(w), num_classes=4,
                          ignore_value=IGNORE)
  wb = np.asarray(w, np.float64)
  wb = wb[..., None] if wb.ndim == 3 else wb.reshape(wb.shape + (1,) * (4 - wb.ndim))
  want = (1 - wb) * ref_one_hot(t, 4, IGNORE) + wb * ref_one_hot(p, 4, IGNORE)
  np.testing.assert_allclose(np.asarray(got), want, atol=1e-6)
  w_pixel = float(np.broadcast_to(wb[..., 0], (2, 5, 6))[0, 0, 0])
  # An ignored pixel keeps only the partner's share of weight.
  assert np.asarray(got)[0, 0, 0].sum() == pytest.approx(w_pixel, abs=1e-6)
  with pytest.raises(ValueError, match="num_classes"):
    dense.blend_dense(jnp.asarray(t), jnp.asarray(p), 0.5)


def test_erase_dense_writes_ignore_or_zero_rows():
  rng = np.random.default_rng(2)
  t = rng.integers(0, 9, (2, 4, 5)).astype(np.int16)
  mask = rng.random((2, 4, 5)) < 0.5
  got = np.asarray(dense.erase_dense(jnp.asarray(t), jnp.asarray(mask), ignore_value=-1))
  want = np.where(mask, -1, t)
  np.testing.assert_array_equal(got, want)
  soft = rng.random((2, 4, 5, 3)).astype(np.float32)
  got = np.asarray(dense.erase_dense(jnp.asarray(soft), jnp.asarray(mask)))
  np.testing.assert_array_equal(got, np.where(mask[..., None], 0.0, soft))
  with pytest.raises(ValueError, match="ignore_value 255 does not fit"):
    dense.erase_dense(jnp.asarray(t.astype(np.int8)), jnp.asarray(mask), ignore_value=255)


def test_check_dense_shapes():
  images = jnp.zeros((2, 5, 6, 3))
  dense.check_dense(jnp.zeros((2, 5, 6), jnp.int32), images)
  dense.check_dense(jnp.zeros((2, 5, 6, 7)), images)
  dense.check_dense(jnp.zeros((2, 7, 5, 6)), jnp.zeros((2, 3, 5, 6)), "NCHW")
  with pytest.raises(ValueError, match="integer dense targets must have shape"):
    dense.check_dense(jnp.zeros((2, 6, 5), jnp.int32), images)
  with pytest.raises(ValueError, match="soft dense targets"):
    dense.check_dense(jnp.zeros((2, 5, 6)), images)


# ---- every op: image and targets aligned pixel for pixel ----------------------------------

B, H, W = 4, 8, 10
MIX_OPS = {"cutmix": {}, "mixup": {}, "resizemix": {"scale": (0.3, 0.9)},
           "saliencymix": {}, "fmix": {}, "smoothmix": {}, "gridmix": {"n_holes": (1, 3)}}
COMBOS = [(m, p) for m in ("batch", "elem") for p in ("flip", "roll", "permute")] + [
    ("pair", "flip"), ("sample", "roll")]
# The default run checks every mode and every partner once per op; the rest of the
# cross product is the slow sweep (`-m slow`).
FAST_COMBOS = (("elem", "permute"), ("batch", "roll"), ("pair", "flip"))
SWEEP = [pytest.param(m, p, marks=() if (m, p) in FAST_COMBOS else pytest.mark.slow)
         for m, p in COMBOS]


def coded_batch(data_format):
  """Images whose channel 0 is a unique code per (sample, pixel), and the same code as targets."""
  code = np.arange(B * H * W, dtype=np.int32).reshape(B, H, W)
  images = np.stack([code, -code, code * 0 + 7], axis=-1).astype(np.float32)
  if data_format == "NCHW":
    images = images.transpose(0, 3, 1, 2)
  return jnp.asarray(images), jnp.asarray(code), jnp.arange(B)


def channel0(images, data_format):
  return np.asarray(images)[..., 0] if data_format == "NHWC" else np.asarray(images)[:, 0]


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
@pytest.mark.parametrize("mode,partner", SWEEP)
@pytest.mark.parametrize("op", sorted(MIX_OPS))
def test_targets_follow_the_images_pixel_for_pixel(op, mode, partner, data_format):
  """Masks follow the image pixel for pixel. Slow cases: the pairings outside
  FAST_COMBOS, whose partners and modes the fast cases of this test already meet."""
  if data_format == "NCHW" and (mode, partner) not in (("elem", "permute"), ("pair", "flip")):
    pytest.skip("layouts are checked on two pairings")
  images, code, labels = coded_batch(data_format)
  soft = code.astype(jnp.float32)[..., None]
  if data_format == "NCHW":
    soft = jnp.moveaxis(soft, -1, 1)
  key = jax.random.key(zlib.crc32(f"{op}{mode}{partner}".encode()))
  kw = dict(MIX_OPS[op], mode=mode, partner=partner, num_classes=B, data_format=data_format)
  out_img, rows, out_soft = jaxmix.OPS[op](key, images, labels, masks=soft, **kw)
  mixed0 = channel0(out_img, data_format)
  soft0 = channel0(out_soft, data_format)
  # Soft targets go through exactly the image's arithmetic (blend / resize / mask).
  np.testing.assert_allclose(soft0, mixed0, rtol=1e-6, atol=1e-4)
  if op in ("mixup", "smoothmix"):  # blends: integer maps become rows (tested elsewhere)
    return
  _, _, out_int = jaxmix.OPS[op](key, images, labels, masks=code, **kw)
  np.testing.assert_array_equal(np.asarray(out_int), mixed0.astype(np.int32))
  # Label weights are the true pasted area: the share of pixels from elsewhere.
  source = np.asarray(out_int) // (H * W)
  rows = np.asarray(rows)
  for i in range(B):
    from_partner = (source[i] != i).mean()
    others = set(np.unique(source[i])) - {i}
    if others:
      assert rows[i, i] == pytest.approx(1.0 - from_partner, abs=1e-6)
      assert rows[i, others.pop()] == pytest.approx(from_partner, abs=1e-6)


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_cutout_targets_get_ignore_where_the_image_is_erased(mode, data_format):
  images, code, labels = coded_batch(data_format)
  key = jax.random.key(5)
  out_img, out_labels, out_code = jaxmix.OPS["cutout"](
      key, images, labels, size=4, fill=-1, mode=mode, masks=code, ignore_value=-1,
      data_format=data_format)
  np.testing.assert_array_equal(np.asarray(out_img),
                                np.asarray(jaxmix.cutout(key, images, size=4, fill=-1, mode=mode,
                                                         data_format=data_format)))
  erased = channel0(out_img, data_format) == -1
  assert erased.any()
  np.testing.assert_array_equal(np.asarray(out_code) == -1, erased)
  np.testing.assert_array_equal(np.asarray(out_code)[~erased], np.asarray(code)[~erased])
  assert out_labels is labels


def test_mixup_integer_masks_become_rows_weighted_like_the_labels():
  images, code, labels = coded_batch("NHWC")
  seg = jnp.asarray(np.arange(B)[:, None, None] * np.ones((1, H, W), np.int32))  # class = sample
  out, rows, seg_rows = jaxmix.OPS["mixup"](jax.random.key(0), images, labels, masks=seg,
                                            num_classes=B, mode="elem")
  np.testing.assert_allclose(np.asarray(seg_rows), np.broadcast_to(
      np.asarray(rows)[:, None, None, :], (B, H, W, B)), atol=1e-6)
  with pytest.raises(ValueError, match="num_classes is required"):
    jaxmix.OPS["mixup"](jax.random.key(0), images, jax.nn.one_hot(labels, B), masks=seg)


def test_ops_by_name_are_the_public_functions_and_targets_keep_the_draws():
  """One function per op: `OPS[name] is jaxmix.name`, and passing targets changes no pixel."""
  assert all(jaxmix.OPS[name] is getattr(jaxmix, name) for name in jaxmix.OPS)
  images = jnp.arange(4 * 8 * 8 * 3, dtype=jnp.int32).reshape(4, 8, 8, 3).astype(jnp.uint8)
  soft = jax.nn.one_hot(jnp.arange(4 * 64).reshape(4, 8, 8) % 4, 4)
  key = jax.random.key(3)
  for name, options in (("cutmix", {}), ("mixup", {}), ("cutout", {"size": 4})):
    plain = jaxmix.OPS[name](key, images, jnp.arange(4), num_classes=4, **options)
    mixed = jaxmix.OPS[name](key, images, jnp.arange(4), num_classes=4, masks=soft, **options)
    np.testing.assert_array_equal(np.asarray(mixed[0]), np.asarray(plain[0]))
    assert len(mixed) == 3 and mixed[2].shape == soft.shape


@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_policy_masks_paste_where_cutmix_drew_and_blend_where_mixup_drew(mode):
  """`jaxmix.mix(..., masks=)` against a NumPy restatement on the policy's own draws.

  Key derivation (mixing.py): the draws are `sample_mix_params(key, ...)` of the op's key;
  partners are timm's flip (i ↔ B − 1 − i).
  """
  b, h, w, k, ignore = 6, 7, 9, 4, 255
  config = jaxmix.MixConfig(num_classes=k, mixup_alpha=0.8, cutmix_alpha=1.0, prob=0.8,
                            switch_prob=0.5, mode=mode)
  seen = set()
  for seed in range(8):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (b, h, w, 3), dtype=np.uint8)
    y = rng.integers(0, k, b)
    masks = rng.integers(0, k, (b, h, w)).astype(np.int32)
    masks[rng.random((b, h, w)) < 0.1] = ignore
    key = jax.random.key(seed)
    got_x, got_y, got_m = jaxmix.mix(key, jnp.asarray(x), jnp.asarray(y), config,
                                     masks=jnp.asarray(masks), ignore_value=ignore)
    plain_x, plain_y = jaxmix.mix(key, jnp.asarray(x), jnp.asarray(y), config)
    np.testing.assert_array_equal(np.asarray(got_x), np.asarray(plain_x))
    np.testing.assert_array_equal(np.asarray(got_y), np.asarray(plain_y))

    p = jaxmix.sample_mix_params(key, config, b, h, w)
    per = lambda v: np.broadcast_to(np.asarray(v), (b,))
    lam, use_cutmix = per(p["lam"]).astype(np.float64), per(p["use_cutmix"])
    y1, y2, x1, x2 = (per(c) for c in p["box"])
    rows = np.eye(k)[np.where(masks == ignore, 0, masks)] * (masks != ignore)[..., None]
    partner = rows[::-1]
    want = np.empty_like(rows)
    for i in range(b):
      if use_cutmix[i]:
        inside = np.zeros((h, w), bool)
        inside[y1[i]:y2[i], x1[i]:x2[i]] = True
        want[i] = np.where(inside[..., None], partner[i], rows[i])
        seen.add("paste" if inside.any() else "unmixed")
      else:
        want[i] = lam[i] * rows[i] + (1.0 - lam[i]) * partner[i]
        seen.add("blend" if lam[i] != 1.0 else "unmixed")
    assert np.asarray(got_m).dtype == np.float32
    np.testing.assert_allclose(np.asarray(got_m), want, rtol=0, atol=1e-6)
  assert {"paste", "blend"} <= seen   # both branches were checked
