"""Dense (per-pixel) targets: paste, blend and erase against NumPy re-statements."""

import jax.numpy as jnp
import numpy as np
import pytest

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
