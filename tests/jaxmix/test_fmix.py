"""FMix against a NumPy re-statement of ecs-vlc/FMix `fmix.py` (`fftfreqnd`,
`get_spectrum`, `make_low_freq_image`, `binarise_mask`) on the same normal draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix
from jaxmix._src import fmix
from tests.jaxmix.variant_utils import coded

SIZES = [(32, 32), (7, 5), (5, 9), (2, 3), (16, 9), (1, 6)]


def ref_fftfreqnd(h, w):
  fy = np.fft.fftfreq(h)[:, None]
  fx = np.fft.fftfreq(w)[: w // 2 + 2] if w % 2 == 1 else np.fft.fftfreq(w)[: w // 2 + 1]
  return np.sqrt(fx * fx + fy * fy)


def ref_low_freq_image(param, decay, h, w, spectrum):
  """Official `make_low_freq_image` (ch = 1) with `param` as its normal draws [1, H, F, 2]."""
  freqs = ref_fftfreqnd(h, w)
  scale = np.ones(1) / (np.maximum(freqs, np.array([1.0 / max(w, h)])) ** decay)
  spec = np.expand_dims(scale, -1)[None, :] * param
  if spectrum == "official":
    z = spec[:, 0] + 1j * (spec[:, 1] if h > 1 else 0.0)
  else:
    z = spec[..., 0] + 1j * spec[..., 1]
  mask = np.real(np.fft.irfftn(z, (h, w), axes=(-2, -1)))[:1, :h, :w]
  mask = mask - mask.min()
  return mask / mask.max() if mask.max() > 0 else mask


def ref_binarise(mask, num, max_soft, lam):
  """Official `binarise_mask`, with the threshold count `num` given."""
  idx = mask.reshape(-1).argsort()[::-1]
  mask = mask.reshape(-1).copy()
  eff_soft = max_soft
  if max_soft > lam or max_soft > (1 - lam):
    eff_soft = min(lam, 1 - lam)
  soft = int(mask.size * eff_soft)
  num_low, num_high = num - soft, num + soft
  mask[idx[:num_high]] = 1
  mask[idx[num_low:]] = 0
  mask[idx[num_low:num_high]] = np.linspace(1, 0, (num_high - num_low))
  return mask


@pytest.mark.parametrize("spectrum", ["official", "full"])
@pytest.mark.parametrize("h,w", SIZES)
def test_fmix_low_freq_image_matches_official(h, w, spectrum):
  normals = fmix.sample_normals(jax.random.key(h * 31 + w), h, w)
  assert normals.shape == ref_fftfreqnd(h, w).shape + (2,)
  for decay in (1.0, 3.0):
    got = np.asarray(jax.jit(fmix.low_freq_image, static_argnums=(2, 3),
                             static_argnames="spectrum")(normals, decay, h, w, spectrum=spectrum))
    want = ref_low_freq_image(np.asarray(normals, np.float64)[None], decay, h, w, spectrum)[0]
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_fmix_fftfreqs_match_official():
  for h, w in SIZES:
    np.testing.assert_array_equal(fmix.fftfreqs(h, w), ref_fftfreqnd(h, w))


@pytest.mark.parametrize("lam", [0.0, 0.13, 0.5, 0.77, 1.0])
@pytest.mark.parametrize("max_soft", [0.0, 0.05, 0.3])
def test_fmix_binarise_matches_official(lam, max_soft):
  rng = np.random.default_rng(int(lam * 100) + int(max_soft * 1000))
  image = rng.permutation(12 * 10).reshape(12, 10).astype(np.float32) / 119.0  # distinct values
  got = np.asarray(fmix.binarise_mask(jnp.asarray(image), lam, max_soft=max_soft)).reshape(-1)
  num = int(round(lam * image.size))
  want = ref_binarise(image.astype(np.float64), num, max_soft, lam)
  np.testing.assert_allclose(got, want, atol=1e-6)
  assert abs(got.mean() - num / image.size) < 1e-6


def test_fmix_sample_mask_weight_is_the_mask_mean_and_lam_rounded():
  for seed in range(2):
    key = jax.random.key(seed)
    mask, weight = fmix.sample_mask(key, 9, 11, alpha=1.0)
    m = np.asarray(mask)
    assert set(np.unique(m)) <= {0.0, 1.0}
    assert float(weight) == pytest.approx(m.mean(), abs=1e-7)
    # The mask keeps whole pixels: its mean is a multiple of 1 / (H·W).
    assert m.sum() == pytest.approx(round(m.sum()), abs=1e-6)


def test_fmix_sample_mask_given_lam_keeps_round_lam_pixels_of_the_low_freq_image():
  key = jax.random.key(3)
  mask, weight = fmix.sample_mask(key, 16, 16, lam=0.3, decay_power=3.0)
  image = ref_low_freq_image(np.asarray(fmix.sample_normals(key, 16, 16), np.float64)[None],
                             3.0, 16, 16, "official")[0]
  num = round(0.3 * 256)
  want = ref_binarise(image, num, 0.0, 0.3).reshape(16, 16)
  np.testing.assert_array_equal(np.asarray(mask), want)
  assert float(weight) == pytest.approx(num / 256)


@pytest.mark.parametrize("max_soft", [0.0, 0.1])
def test_fmix_composes_like_official_sample_and_apply(max_soft):
  b, h, w = 2, 10, 12
  images = coded(b, h, w)
  key = jax.random.key(8)
  out, rows = jaxmix.fmix(key, images, jnp.arange(b), num_classes=b, mode="batch",
                          max_soft=max_soft, spectrum="official")
  # Batch mode: row 0 of the words of the key; word 0 the gate, λ words 1-4, the
  # normals words 5 on (`fmix.normals_from_words`).
  words = jaxmix.random_words(key, 1, fmix.num_words(h, w), offset=1)[0]
  lam = float(jaxmix.sample_lam(key, 1.0, offset=1))
  normals = fmix.normals_from_words(words[4:], h, w)
  image = ref_low_freq_image(np.asarray(normals, np.float64)[None],
                             3.0, h, w, "official")[0]
  mask = ref_binarise(image, int(round(lam * h * w)), max_soft, lam).reshape(h, w)
  x = np.asarray(images, np.float64)
  want = x * mask[None, :, :, None] + x[::-1] * (1 - mask[None, :, :, None])
  np.testing.assert_allclose(np.asarray(out), want, rtol=1e-6, atol=1e-3)
  np.testing.assert_allclose(np.asarray(rows)[[0, 1], [0, 1]], mask.mean(), atol=1e-6)
