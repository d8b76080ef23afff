"""SaliencyMix: Hou & Zhang's spectral residual restated with SciPy's filters, and
the official `saliency_bbox` on the partner's peak."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

import jaxmix
from jaxmix._src import saliencymix
from tests.jaxmix.variant_utils import coded


def ref_spectral_residual(image, sigma):
  img = image.astype(np.float64)
  gray = img @ np.array([0.299, 0.587, 0.114]) if img.shape[-1] == 3 else img.mean(-1)
  f = np.fft.fft2(gray)
  log_amp = np.log(np.abs(f) + 1e-3 * np.abs(f).mean() + 1e-12)
  residual = log_amp - ndimage.uniform_filter(log_amp, 3, mode="wrap")
  sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(f)))) ** 2
  return ndimage.gaussian_filter(sal, sigma, mode="mirror", truncate=4.0)


@pytest.mark.parametrize("h,w,c", [(32, 32, 3), (17, 9, 1), (5, 40, 3), (12, 12, 2)])
def test_spectral_residual_matches_scipy(h, w, c):
  rng = np.random.default_rng(h + w + c)
  image = rng.integers(0, 256, (h, w, c)).astype(np.uint8)
  image[h // 3: h // 2, w // 4: w // 2] = 255  # a bright object
  for sigma in (None, 1.5):
    s = saliencymix.default_sigma(h, w) if sigma is None else sigma
    got = np.asarray(saliencymix.spectral_residual(jnp.asarray(image), sigma=sigma))
    want = ref_spectral_residual(image, s)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * want.max())
    cy, cx = (int(v) for v in saliencymix.saliency_peak(jnp.asarray(image), sigma=sigma))
    assert want[cy, cx] >= want.max() * (1 - 1e-4)


def test_spectral_residual_nchw_equals_nhwc():
  image = np.random.default_rng(0).random((10, 14, 3)).astype(np.float32)
  nhwc = saliencymix.spectral_residual(jnp.asarray(image))
  nchw = saliencymix.spectral_residual(jnp.asarray(image.transpose(2, 0, 1)), data_format="NCHW")
  np.testing.assert_allclose(np.asarray(nchw), ref_spectral_residual(image, 14 / 32), rtol=1e-4,
                             atol=1e-6)
  np.testing.assert_allclose(np.asarray(nhwc), np.asarray(nchw), rtol=1e-5)


@pytest.mark.parametrize("y,x,side,size", [(25, 6, 4, 40), (5, 30, 6, 40), (40, 70, 20, 96)])
def test_saliency_peak_lies_on_a_lone_object(y, x, side, size):
  image = np.zeros((size, size, 3), np.float32)  # flat: exact spectral zeros
  image[y:y + side, x:x + side] = 1.0
  cy, cx = (int(v) for v in saliencymix.saliency_peak(jnp.asarray(image)))
  assert y - 1 <= cy <= y + side and x - 1 <= cx <= x + side


def test_saliencymix_box_is_official_saliency_bbox_on_the_partner_peak():
  rng = np.random.default_rng(0)
  b, h, w = 4, 20, 24
  images = np.array(coded(b, h, w))
  images[..., 1] = rng.random((b, h, w)) * 50  # texture for the saliency
  images[:, 5:9, 14:18, 1] = 255.0  # an object
  images = jnp.asarray(images)
  key = jax.random.key(11)
  out, rows = jaxmix.saliencymix(key, images, jnp.arange(b), num_classes=b, mode="elem")
  # Sample i's λ: words 1-4 of row i of the key's words.
  lams = jaxmix.sample_lam(key, 1.0, (b,), offset=1)
  for i in range(b):
    partner = b - 1 - i
    lam = float(lams[i])
    sal = ref_spectral_residual(np.asarray(images[partner]), saliencymix.default_sigma(h, w))
    cy, cx = np.unravel_index(np.argmax(sal), sal.shape)
    cut_rat = np.sqrt(1.0 - lam)  # official saliency_bbox, then the official clipping
    cut_h, cut_w = int(h * cut_rat), int(w * cut_rat)
    y1, y2 = np.clip(cy - cut_h // 2, 0, h), np.clip(cy + cut_h // 2, 0, h)
    x1, x2 = np.clip(cx - cut_w // 2, 0, w), np.clip(cx + cut_w // 2, 0, w)
    want = np.asarray(images[i]).copy()
    want[y1:y2, x1:x2] = np.asarray(images[partner])[y1:y2, x1:x2]
    np.testing.assert_array_equal(np.asarray(out[i]), want)
    area = (y2 - y1) * (x2 - x1) / (h * w)
    assert float(rows[i, i]) == pytest.approx(1 - area, abs=1e-6)
