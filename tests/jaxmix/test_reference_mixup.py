"""Mixup (Zhang et al.), timm's `FastCollateMixup` uint8 rounding, big_vision's n-way Mixup,
and the stated integer Mixup error bound."""

import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix
from tests.jaxmix.reference_utils import (NUM_CLASSES, SEEDS, SETTINGS, np_one_hot, prng_key,
                                  random_images)


# ---------------------------------------------------------------------------
# Mixup (Zhang et al.): mixed_x = lam * x + (1 - lam) * x[index].
# ---------------------------------------------------------------------------

_MIXUP_TOL = {np.float32: 1e-6, jnp.bfloat16: 2 ** -7, np.float16: 2 ** -10}


def _mixup_lams(key, alpha, mode, batch):
  """λ per mixup's documented derivation (row 0, or row i for sample i, of the words of
  the key; λ from words 1-4), and the partner key (split(key)[0], for permute)."""
  key_partner = jax.random.split(key)[0]
  if mode == "batch":
    lam = np.full(batch, np.asarray(jaxmix.sample_lam(key, alpha, offset=1)))
  else:
    lam = np.asarray(jaxmix.sample_lam(key, alpha, (batch,), offset=1))
  return lam.astype(np.float32), key_partner


@hypothesis.given(seed=SEEDS, mode=st.sampled_from(["batch", "elem"]),
                  partner=st.sampled_from(["flip", "roll", "permute"]),
                  dtype=st.sampled_from([np.float32, jnp.bfloat16, np.float16, np.uint8]))
@SETTINGS
def test_mixup_equals_official(seed, mode, partner, dtype):
  batch, height, width = 4, 7, 12
  key = prng_key(seed)
  x32 = random_images(seed, (batch, height, width, 3), np.uint8 if dtype == np.uint8 else np.float32)
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
  y = np_one_hot(ids, NUM_CLASSES)
  np.testing.assert_allclose(np.asarray(got_y), lam[:, None] * y + (1 - lam[:, None]) * y[index],
                             rtol=0, atol=1e-6)


def test_mixup_uint8_rounds_half_to_even():
  """λ = 1/2 puts mixes on .5 exactly: rint rounds half to even, not up."""
  x = jnp.asarray(np.array([[0, 1, 2, 3], [1, 2, 3, 4]], np.uint8).reshape(2, 1, 4, 1))
  out = np.asarray(jaxmix.blend(x, x[::-1], 0.5)).ravel()
  np.testing.assert_array_equal(out, np.rint(np.array([0.5, 1.5, 2.5, 3.5] * 2)))
  np.testing.assert_array_equal(out, [0, 2, 2, 4, 0, 2, 2, 4])


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
    key = prng_key(seed)
    x = random_images(seed, (batch, height, width, 3))
    ids = np.random.default_rng(seed).integers(0, NUM_CLASSES, batch)
    # mixup: weights = sorted Dirichlet draws from words 1, ... of row 0 (batch) or row i
    # (elem) of the key's words.
    key_params = key
    shape = (1,) if mode == "batch" else (batch,)
    if n == 2:  # two-way Mixup keeps Zhang et al.'s unsorted Beta λ (mixup_op)
      lam = np.asarray(jaxmix.sample_lam(key_params, alpha, shape, offset=1), np.float64)
      w = np.stack([lam, 1 - lam], -1)
    else:
      w = np.asarray(jaxmix.sample_dirichlet(key_params, alpha, n, shape, offset=1))
    if n > 2:
      w = -np.sort(-w, axis=-1)
      assert (w[:, 0] >= w[:, 1:].max(axis=1)).all()
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
    got_x, got_y = jaxmix.mixup(key, jnp.asarray(x), jnp.asarray(ids), alpha=alpha, mode=mode,
                                partner="roll", num_mixed=n, num_classes=NUM_CLASSES)
    np.testing.assert_allclose(np.asarray(got_x), big_vision_mix(x, w), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got_y),
                               big_vision_mix(np_one_hot(ids, NUM_CLASSES), w), atol=1e-6)


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
