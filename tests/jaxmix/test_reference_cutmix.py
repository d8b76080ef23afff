"""Official CutMix (clovaai/CutMix-PyTorch `train.py`): `rand_bbox` + the paste, float64."""

import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix
from tests.jaxmix.reference_utils import (NUM_CLASSES, SEEDS, SETTINGS, SIZES, box_tuple, near_integer,
                                  np_one_hot, official_rand_bbox, prng_key, random_images)


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


@hypothesis.given(seed=SEEDS, size=SIZES, alpha=st.sampled_from([0.2, 1.0, 4.0]))
@SETTINGS
def test_box_from_centre_equals_official_rand_bbox(seed, size, alpha):
  height, width = size
  key_lam, key_box = jax.random.split(prng_key(seed))
  lam = jaxmix.sample_lam(key_lam, alpha)
  cy, cx = jaxmix.sample_centre(key_box, height, width)
  lam64 = np.float64(np.asarray(lam))
  r = np.sqrt(1.0 - lam64)
  # jaxmix computes √(1−λ)·H in float32, the reference in float64: within float32
  # rounding of an integer the two floors may legitimately differ by one pixel.
  hypothesis.assume(not near_integer([height * r, width * r]).any())
  got = box_tuple(jaxmix.box_from_centre(lam, cy, cx, height, width))
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
  sub = ~(near_integer(height * np.sqrt(1.0 - lam_all[::step].astype(np.float64)))
          | near_integer(width * np.sqrt(1.0 - lam_all[::step].astype(np.float64))))
  np.testing.assert_array_equal(got[::step][sub], want[sub])
  # Vectorized restatement for every row (same formulas as official_rand_bbox).
  r = np.sqrt(1.0 - lam_all.astype(np.float64))
  ch, cw = (height * r).astype(np.int64), (width * r).astype(np.int64)
  full = np.stack([np.clip(cy - ch // 2, 0, height), np.clip(cy + ch // 2, 0, height),
                   np.clip(cx - cw // 2, 0, width), np.clip(cx + cw // 2, 0, width)], -1)
  boundary = near_integer(height * r) | near_integer(width * r)
  np.testing.assert_array_equal(got[~boundary], full[~boundary])
  assert np.abs(got - full).max() <= 1


@hypothesis.given(seed=SEEDS, size=SIZES, alpha=st.sampled_from([0.5, 1.0]),
                  smoothing=st.sampled_from([0.0, 0.1]))
@SETTINGS
def test_cutmix_batch_permute_equals_official(seed, size, alpha, smoothing):
  height, width = size
  batch = 6
  key = prng_key(seed)
  x = random_images(seed, (batch, height, width, 3))
  ids = np.random.default_rng(seed).integers(0, NUM_CLASSES, batch)
  # cutmix: batch mode reads row 0 of random_words(key, ...): word 0 the gate, λ from
  # words 1-4, the centre 5-8; permute partners from split(key)[0].
  key_partner = jax.random.split(key)[0]
  lam = jaxmix.sample_lam(key, alpha, offset=1)
  cy, cx = jaxmix.sample_centre(key, height, width, offset=5)
  lam64 = np.float64(np.asarray(lam))
  r = np.sqrt(1.0 - lam64)
  hypothesis.assume(not near_integer([height * r, width * r]).any())
  rand_index = np.asarray(jaxmix.partner_index(key_partner, batch, "permute"))
  assert sorted(rand_index.tolist()) == list(range(batch))

  x_ref, y_ref, _ = official_cutmix(x.transpose(0, 3, 1, 2).astype(np.float64),
                                    np_one_hot(ids, NUM_CLASSES, smoothing),
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
    key = prng_key(seed)
    x = random_images(seed, (batch, 3, height, width), np.uint8)
    ids = np.arange(batch) % NUM_CLASSES
    key_partner = jax.random.split(key)[0]
    lam = np.float64(np.asarray(jaxmix.sample_lam(key, 1.0, offset=1)))
    cy, cx = jaxmix.sample_centre(key, height, width, offset=5)
    if near_integer(np.array([height, width]) * np.sqrt(1 - lam)).any():
      continue
    rand_index = np.asarray(jaxmix.partner_index(key_partner, batch, "permute"))
    x_ref, y_ref, _ = official_cutmix(x, np_one_hot(ids, NUM_CLASSES), lam,
                                      int(cy), int(cx), rand_index)
    got_x, got_y = jaxmix.cutmix(key, jnp.asarray(x), jnp.asarray(ids), mode="batch",
                                 partner="permute", num_classes=NUM_CLASSES,
                                 data_format="NCHW")
    assert got_x.dtype == jnp.uint8
    np.testing.assert_array_equal(np.asarray(got_x), x_ref)
    np.testing.assert_allclose(np.asarray(got_y), y_ref, rtol=0, atol=1e-6)
