"""Statistical tests of jaxmix's samplers on fixed keys (deterministic, not flaky).

Every test uses fixed keys and fixed NumPy seeds, so it either always passes or
always fails; thresholds (p > 1e-3, 4 standard errors) leave room for a
correct sampler on those keys while each test has a matching power check that a
wrong distribution of the same kind is rejected.
"""

import jax
import jax.extend.random
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxmix
from jaxmix._src import sampling

N = 20000


def _key(seed):
  return jax.random.key(seed)


def ks_pvalue(sample, cdf, hi=1.0 - 1e-5):
  """One-sample KS p-value, the sup taken over sample points below `hi` only.

  float32 cannot hold values in (1 − 2⁻²⁴, 1): a Beta(0.2, 0.2) draw becomes
  exactly 1.0 with probability ≈ 1.6 % (correct rounding) to 1.9 % (jax computes
  λ = a / (a + b), which is 1.0 once b/a < 2⁻²⁴), and that atom alone gives
  scipy's `kstest` a statistic ≈ 0.018 at x = 1 (p ≈ 1e-6 at n = 20000) for a
  sampler that is exact up to float32.
  Restricting the sup to x < hi (where float32 spacing is < 1e-7 and rounding
  moves the CDF by < 1e-6) gives a statistic ≤ the full one, so the Kolmogorov
  p-value stays valid (conservative); the tails beyond are tested separately.
  """
  x = np.sort(np.asarray(sample, np.float64))
  n = len(x)
  f = cdf(x)
  i = np.arange(1, n + 1)
  keep = x < hi
  d = max(np.max((i / n - f)[keep]), np.max((f - (i - 1) / n)[keep]))
  return stats.kstwo.sf(d, n)


def _tails_ok(lam, alpha, t=1e-5):
  """Mass within t of 0 and of 1 is the Beta's (binomial, 4 sigma)."""
  p = stats.beta(alpha, alpha).cdf(t)
  return (_binomial_ok(np.sum(lam <= t), len(lam), p)
          and _binomial_ok(np.sum(lam >= 1 - t), len(lam), p))


@pytest.mark.parametrize("alpha", [0.05, 0.2, 1.0, 2.0, 50.0])
def test_sample_lam_is_beta(alpha):
  lam = np.asarray(jaxmix.sample_lam(_key(11), alpha, (N,)), np.float64)
  assert lam.dtype == np.float64 and lam.shape == (N,)
  assert ((lam >= 0) & (lam <= 1)).all()
  assert ks_pvalue(lam, stats.beta(alpha, alpha).cdf) > 1e-3
  assert _tails_ok(lam, alpha)
  # Power: the same test rejects a Beta with a clearly different α.
  assert ks_pvalue(lam, stats.beta(1.5 * alpha, 1.5 * alpha).cdf) < 1e-3


@pytest.mark.parametrize("alpha", [0.1, 1.0, 2.0, 30.0])
def test_sample_lam_rows_at_an_offset_are_beta(alpha):
  """An op reads λ from its words at an offset of each row (cutmix: row i, offset 1)."""
  lam = np.asarray(jaxmix.sample_lam(_key(12), alpha, (N,), offset=1), np.float64)
  assert ks_pvalue(lam, stats.beta(alpha, alpha).cdf) > 1e-3
  assert _tails_ok(lam, alpha)
  assert ks_pvalue(lam, stats.beta(1.5 * alpha, 1.5 * alpha).cdf) < 1e-3


@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.5001, 0.7])
def test_sample_lam_is_beta_on_both_sides_of_one_half(alpha):
  """Ulrich's method (α > ½) and its boosted form (α <= ½) meet at ½: both exact."""
  lam = np.asarray(jaxmix.sample_lam(_key(15), alpha, (N,)), np.float64)
  assert ks_pvalue(lam, stats.beta(alpha, alpha).cdf) > 1e-3
  assert _tails_ok(lam, alpha)
  assert ks_pvalue(lam, stats.beta(1.3 * alpha, 1.3 * alpha).cdf) < 1e-3


def test_random_words_rows_do_not_depend_on_the_batch():
  """Row r's words are the same drawn alone, in a longer batch or at an offset."""
  key = _key(16)
  full = np.asarray(jaxmix.random_words(key, 9, 7))
  np.testing.assert_array_equal(np.asarray(jaxmix.random_words(key, jnp.array([4]), 7))[0],
                                full[4])
  np.testing.assert_array_equal(np.asarray(jaxmix.random_words(key, 5, 4, offset=3)),
                                full[:5, 3:7])
  # Many pairs are hashed as one block, a few one by one: the same words either way.
  block = np.asarray(jaxmix.random_words(key, 9, 41))
  np.testing.assert_array_equal(block[:, :7], full)
  np.testing.assert_array_equal(np.asarray(jaxmix.random_words(key, 9, 3, offset=37)),
                                block[:, 37:40])
  # Power: different rows and different words differ.
  assert len(np.unique(full)) == full.size


@pytest.mark.parametrize("layout", ["words_as_block", "words_apart"])
def test_random_words_layouts_are_the_documented_hash(layout):
  """Both layouts (one threefry call on CPU, one per pair elsewhere) give word j of row r =
  output j % 2 of threefry2x32(key, (r, 2^31 + j // 2)), restated call by call."""
  key_data = jax.random.key_data(_key(17))
  rows, offset, num = jnp.array([0, 3, 2**31 + 5], jnp.uint32), 3, 6
  pairs = range(offset // 2, (offset + num - 1) // 2 + 1)
  got = np.asarray(getattr(sampling, layout)(key_data, rows, pairs, offset % 2, num))
  for i, r in enumerate(np.asarray(rows)):
    for j in range(offset, offset + num):
      pair = jnp.array([r, 2**31 + j // 2], jnp.uint32)
      assert got[i, j - offset] == int(jax.extend.random.threefry_2x32(key_data, pair)[j % 2])


@pytest.mark.parametrize("impl", ["rbg", "unsafe_rbg"])
def test_sample_lam_non_threefry_key_is_beta(impl):
  """A non-threefry key hashes each word with `jax.random.bits` instead of threefry."""
  lam = np.asarray(jaxmix.sample_lam(jax.random.key(14, impl=impl), 0.5, (N // 4,)), np.float64)
  assert ks_pvalue(lam, stats.beta(0.5, 0.5).cdf) > 1e-3
  assert ks_pvalue(lam, stats.beta(0.75, 0.75).cdf) < 1e-3


def test_sample_lam_traced_alpha_is_beta():
  """α passed as a traced array under jit samples the same Beta(α, α)."""
  draw = jax.jit(lambda k, a: jaxmix.sample_lam(k, a, (N,)))
  for alpha in (0.05, 0.4, 3.0, 100.0):
    lam = np.asarray(draw(_key(13), jnp.float32(alpha)), np.float64)
    assert ks_pvalue(lam, stats.beta(alpha, alpha).cdf) > 1e-3
    assert ks_pvalue(lam, stats.beta(1.5 * alpha, 1.5 * alpha).cdf) < 1e-3


@pytest.mark.parametrize("size", [(8, 8), (6, 10)])
def test_box_centres_uniform_over_pixels(size):
  height, width = size
  n = 1000 * height * width
  cy, cx = (np.asarray(c) for c in jaxmix.sample_centre(_key(21), height, width, (n,)))
  assert cy.min() >= 0 and cy.max() < height and cx.min() >= 0 and cx.max() < width
  counts = np.bincount(cy * width + cx, minlength=height * width)
  assert len(counts) == height * width
  assert stats.chisquare(counts).pvalue > 1e-3
  # Power: a centre that never reaches the last row would be rejected.
  biased = np.bincount(np.minimum(cy, height - 2) * width + cx, minlength=height * width)
  assert stats.chisquare(biased).pvalue < 1e-3


def test_box_centres_at_an_offset_uniform():
  """Centres read at an offset of each row (as elem-mode cutmix / cutout do) are uniform."""
  cy, cx = jaxmix.sample_centre(_key(22), 8, 8, (64000,), offset=5)
  counts = np.bincount(np.asarray(cy) * 8 + np.asarray(cx), minlength=64)
  assert stats.chisquare(counts).pvalue > 1e-3


def _official_corrected_lam(rng, n, alpha, height, width):
  """NumPy Monte-Carlo of official CutMix: np.random.beta, rand_bbox, corrected λ."""
  lam = rng.beta(alpha, alpha, size=n)
  cut_rat = np.sqrt(1. - lam)
  cut_h = (height * cut_rat).astype(np.int64)
  cut_w = (width * cut_rat).astype(np.int64)
  cy = rng.integers(0, height, size=n)
  cx = rng.integers(0, width, size=n)
  y1, y2 = np.clip(cy - cut_h // 2, 0, height), np.clip(cy + cut_h // 2, 0, height)
  x1, x2 = np.clip(cx - cut_w // 2, 0, width), np.clip(cx + cut_w // 2, 0, width)
  return 1 - ((y2 - y1) * (x2 - x1) / (height * width))


def test_cutmix_mean_corrected_lam_matches_official():
  height = width = 32
  batch = N
  images = jnp.zeros((batch, height, width, 1), jnp.uint8)
  # Flip partners: sample i < B/2 pairs with B-1-i >= B/2, so labels 0 | 1 differ and
  # the mixed row's weight on a sample's own class is its (corrected) label λ.
  ids = (jnp.arange(batch) >= batch // 2).astype(jnp.int32)
  _, rows = jaxmix.cutmix(_key(31), images, ids, alpha=1.0, mode="elem", partner="flip",
                          num_classes=2)
  rows = np.asarray(rows, np.float64)
  lam = rows[np.arange(batch), np.asarray(ids)]
  np.testing.assert_allclose(rows.sum(1), 1.0, atol=1e-6)
  ref = _official_corrected_lam(np.random.default_rng(0), 200000, 1.0, height, width)
  # The corrected λ takes values k / 1024: equal distributions give equal means.
  se = np.sqrt(lam.var() / len(lam) + ref.var() / len(ref))
  assert abs(lam.mean() - ref.mean()) < 4 * se, (lam.mean(), ref.mean(), se)
  # Two-sample KS on the whole distribution (discrete, so this is conservative).
  assert stats.ks_2samp(lam, ref).pvalue > 1e-3
  # Power: the uncorrected mean (E λ = 0.5) is more than 4 se away from the corrected one.
  assert abs(ref.mean() - 0.5) > 4 * se


def _binomial_ok(successes, trials, p):
  if trials == 0:
    return False
  sigma = np.sqrt(p * (1 - p) / trials)
  return abs(successes / trials - p) <= 4 * sigma + 1e-12


@pytest.mark.parametrize("mode", ["elem", "pair", "batch"])
@pytest.mark.parametrize("prob,switch_prob", [(0.6, 0.3), (0.25, 0.8)])
def test_policy_fractions(mode, prob, switch_prob):
  config = jaxmix.MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, prob=prob,
                            switch_prob=switch_prob, num_classes=10, mode=mode)
  if mode == "batch":
    # One draw per batch: many batches, one key each.
    params = jax.vmap(lambda k: jaxmix.sample_mix_params(k, config, 2, 8, 8))(
        jax.random.split(_key(41), N))
    lam, cut = np.asarray(params["lam"]), np.asarray(params["use_cutmix"])
  else:
    params = jaxmix.sample_mix_params(_key(42), config, N, 8, 8)
    lam, cut = np.asarray(params["lam"]), np.asarray(params["use_cutmix"])
    if mode == "pair":  # only the first half is independent
      lam, cut = lam[:N // 2], cut[:N // 2]
  applied = lam != 1.0
  assert _binomial_ok(applied.sum(), applied.size, prob), applied.mean()
  assert _binomial_ok(cut[applied].sum(), applied.sum(), switch_prob), cut[applied].mean()
  # Power: the tolerance is tight enough to tell prob from a value 0.05 away.
  assert not _binomial_ok(applied.sum(), applied.size, prob + 0.05)
  # λ of the chosen op is Beta(α, α) of that op.
  lam_cut, lam_mix = lam[applied & cut], lam[applied & ~cut]
  assert ks_pvalue(lam_cut, stats.beta(1.0, 1.0).cdf) > 1e-3
  assert ks_pvalue(lam_mix, stats.beta(0.8, 0.8).cdf) > 1e-3


@pytest.mark.parametrize("alphas,want_cutmix", [((0.0, 1.0), True), ((0.8, 0.0), False)])
def test_policy_alpha_zero_disables_op(alphas, want_cutmix):
  config = jaxmix.MixConfig(mixup_alpha=alphas[0], cutmix_alpha=alphas[1], prob=0.5,
                            switch_prob=0.5, num_classes=10, mode="elem")
  params = jaxmix.sample_mix_params(_key(43), config, N, 8, 8)
  lam, cut = np.asarray(params["lam"]), np.asarray(params["use_cutmix"])
  applied = lam != 1.0
  assert _binomial_ok(applied.sum(), applied.size, 0.5)
  assert (cut[applied] == want_cutmix).all()
  alpha = alphas[1] if want_cutmix else alphas[0]
  assert ks_pvalue(lam[applied], stats.beta(alpha, alpha).cdf) > 1e-3


@pytest.mark.parametrize("alpha, num", [(0.2, 3), (1.0, 3), (0.5, 5)])
def test_sample_dirichlet_marginals_are_beta(alpha, num):
  """w ~ Dirichlet(α·1_n): each w_i ~ Beta(α, (n − 1)·α), w_i + w_j ~ Beta(2α, (n − 2)·α)."""
  w = np.asarray(jaxmix.sample_dirichlet(_key(14), alpha, num, (N,)), np.float64)
  assert w.shape == (N, num)
  np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
  for i in range(num):
    assert ks_pvalue(w[:, i], stats.beta(alpha, (num - 1) * alpha).cdf) > 1e-3, i
  assert ks_pvalue(w[:, 0] + w[:, 1], stats.beta(2 * alpha, (num - 2) * alpha).cdf) > 1e-3
  # Power: the marginal of a Dirichlet with 1.5·α is rejected.
  assert ks_pvalue(w[:, 0], stats.beta(1.5 * alpha, 1.5 * (num - 1) * alpha).cdf) < 1e-3


def test_n_way_mixup_weights_are_sorted_dirichlet():
  """n-way Mixup (elem): per-sample weights = sorted Dirichlet; the largest weight's
  distribution is the Dirichlet maximum's (checked against a NumPy Dirichlet)."""
  batch, alpha, num = 4000, 0.3, 3
  images = jnp.zeros((batch, 1, 1, 1), jnp.float32)
  labels = jnp.arange(batch) % 3
  rows = np.asarray(jaxmix.mixup(_key(2), images, labels, alpha=alpha, num_mixed=num,
                                 partner="roll", num_classes=3)[1], np.float64)
  own = rows[np.arange(batch), np.asarray(labels)]  # labels i, i−1, i−2 are distinct mod 3
  reference = np.sort(np.random.default_rng(0).dirichlet([alpha] * num, 200000), axis=1)
  assert stats.ks_2samp(own, reference[:, -1]).pvalue > 1e-3
  assert (own >= 1 / num - 1e-6).all()
  assert stats.ks_2samp(own, np.random.default_rng(1).beta(alpha, 2 * alpha, 200000)).pvalue < 1e-3


def test_gamma_proposals_bound():
  """The bound in sampling.py: after the +4 boost a Marsaglia–Tsang proposal is
  rejected with probability < 0.008 (shape >= 4), so all 8 fail with < 2e-17."""
  from scipy import integrate
  from jaxmix._src import sampling

  def rejection(shape):
    d = shape - 1 / 3
    c = 1 / np.sqrt(9 * d)

    def accepted(x):
      v = (1 + c * x) ** 3
      return stats.norm.pdf(x) * min(1.0, np.exp(0.5 * x * x + d - d * v + d * np.log(v)))
    # Beyond |x| = 12 the normal density is < 1e-31.
    return 1 - integrate.quad(accepted, max(-1 / c, -12.0), 12.0, points=[0.0], limit=200)[0]

  shapes = sampling._GAMMA_BOOST + np.array([0.0, 0.01, 0.1, 0.5, 1.0, 4.0, 50.0])
  rejections = np.array([rejection(s) for s in shapes])
  assert (np.diff(rejections) < 0).all(), rejections  # worst at the smallest shape
  assert rejections[0] < 0.008 and 0.008 ** sampling._GAMMA_PROPOSALS < 2e-17
  # Power: without the boost (shape 1) the rejection is ~0.048, over the bound.
  assert rejection(1.0) > 0.04
