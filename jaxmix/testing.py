"""Assertions and hypothesis strategies for testing mix functions, yours or jaxmix's.

Example (pytest + hypothesis):

  from hypothesis import given
  from jaxmix import testing

  @given(testing.distinct_batches())
  def test_my_cutmix(batch):
    images, labels, num_classes = batch
    out, rows = my_cutmix(key, images, labels)
    testing.assert_label_rows_valid(rows)
    testing.assert_pixels_from_sources(images, images[::-1], out)
    lam = rows[jnp.arange(len(labels)), labels]
    testing.assert_area_matches_lam(images, images[::-1], out, lam)
"""

import jax
import jax.numpy as jnp
import numpy as np


def assert_label_rows_valid(rows: jax.Array, atol: float = 1e-5) -> None:
  """Rows are finite, non-negative and sum to 1."""
  rows = np.asarray(rows, np.float64)
  if rows.ndim != 2:
    raise AssertionError(f"label rows must have rank 2, got shape {rows.shape}")
  if not np.isfinite(rows).all():
    raise AssertionError("label rows contain NaN or inf")
  if (rows < -atol).any():
    raise AssertionError(f"label rows have negative entries (min {rows.min()})")
  sums = rows.sum(axis=1)
  if not np.allclose(sums, 1.0, atol=atol):
    raise AssertionError(f"label rows must sum to 1, got sums {sums[:8]}")


def assert_pixels_from_sources(images: jax.Array, partner_images: jax.Array,
                               mixed: jax.Array) -> None:
  """Every output pixel equals that pixel of the image or of its partner (CutMix)."""
  x, p, o = (np.asarray(a) for a in (images, partner_images, mixed))
  if o.dtype != x.dtype or o.shape != x.shape:
    raise AssertionError(f"output {o.shape} {o.dtype} does not match input {x.shape} {x.dtype}")
  bad = ~((o == x) | (o == p))
  if bad.any():
    raise AssertionError(f"{int(bad.sum())} output values come from neither source, "
                         f"first at {np.argwhere(bad)[0].tolist()}")


def partner_fraction(images: jax.Array, partner_images: jax.Array, mixed: jax.Array,
                     data_format: str = "NHWC") -> np.ndarray:
  """Fraction of each image's pixels (all channels) taken from the partner and not the image.

  Exact when an image and its partner differ at every pixel (see `distinct_batches`).
  """
  x, p, o = (np.asarray(a) for a in (images, partner_images, mixed))
  channel_axis = 3 if data_format == "NHWC" else 1
  taken = np.all(o == p, axis=channel_axis) & np.any(o != x, axis=channel_axis)
  return taken.reshape(taken.shape[0], -1).mean(axis=1)


def assert_area_matches_lam(images: jax.Array, partner_images: jax.Array, mixed: jax.Array,
                            lam: jax.Array, data_format: str = "NHWC",
                            atol: float = 1e-6) -> None:
  """The fraction taken from the partner equals 1 − λ per image (CutMix with corrected λ).

  Images equal to their partner are skipped (nothing visible changes).
  """
  frac = partner_fraction(images, partner_images, mixed, data_format)
  lam = np.broadcast_to(np.asarray(lam, np.float64), frac.shape)
  differs = np.array([not np.array_equal(a, b) for a, b in
                      zip(np.asarray(images), np.asarray(partner_images))])
  err = np.abs(frac - (1.0 - lam))[differs]
  if err.size and err.max() > atol:
    i = int(np.argmax(np.where(differs, np.abs(frac - (1.0 - lam)), -1)))
    raise AssertionError(f"image {i}: partner fraction {frac[i]} != 1 - λ = {1 - lam[i]}")


def distinct_batches(max_batch: int = 6, max_size: int = 12,
                     dtypes=(jnp.uint8, jnp.bfloat16, jnp.float16, jnp.float32)):
  """Hypothesis strategy: (images, labels, num_classes), image i constant i + 1, label i.

  Every image differs from every other at every pixel, so the source of each
  output pixel is known; needs `hypothesis` (a test dependency).
  """
  from hypothesis import strategies as st

  @st.composite
  def build(draw):
    b = draw(st.integers(1, max_batch))
    h, w = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    c = draw(st.sampled_from([1, 3]))
    dtype = draw(st.sampled_from(list(dtypes)))
    values = np.arange(1, b + 1, dtype=np.float32)[:, None, None, None]
    images = jnp.asarray(np.broadcast_to(values, (b, h, w, c)), dtype)
    return images, jnp.arange(b, dtype=jnp.int32), max(b, 2)

  return build()
