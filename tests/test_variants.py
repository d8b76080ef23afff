"""FMix, SaliencyMix and ResizeMix: their pieces against NumPy re-statements of the references.

References restated here (NumPy / SciPy, float64):
- FMix: ecs-vlc/FMix `fmix.py` (`fftfreqnd`, `get_spectrum`, `make_low_freq_image`,
  `binarise_mask`) on the same normal draws;
- SaliencyMix: Hou & Zhang's spectral residual with SciPy's filters;
- ResizeMix: PyTorch's `interpolate` nearest / bilinear (align_corners=False)
  formulas, and openmixup's `rand_bbox_tao` box.
"""

import math
import pathlib
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

import jaxmix
from jaxmix._src import fmix
from jaxmix._src import resize
from jaxmix._src import resizemix
from jaxmix._src import saliencymix
from jaxmix._src import smoothmix

SIZES = [(32, 32), (7, 5), (5, 9), (2, 3), (16, 9), (1, 6)]


# ---- FMix --------------------------------------------------------------------------------

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
  _, key_noise = jax.random.split(key)
  image = ref_low_freq_image(np.asarray(fmix.sample_normals(key_noise, 16, 16), np.float64)[None],
                             3.0, 16, 16, "official")[0]
  num = round(0.3 * 256)
  want = ref_binarise(image, num, 0.0, 0.3).reshape(16, 16)
  np.testing.assert_array_equal(np.asarray(mask), want)
  assert float(weight) == pytest.approx(num / 256)


# ---- SaliencyMix -------------------------------------------------------------------------

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


# ---- ResizeMix ---------------------------------------------------------------------------

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
      jax.random.split(jax.random.key(0), 500))
  assert float(taus.min()) >= 0.3 and float(taus.max()) <= 0.6
  assert float(taus.max()) - float(taus.min()) > 0.25
  with pytest.raises(ValueError, match="scale"):
    resizemix.sample_box(jax.random.key(0), 8, 8, (0.5, 0.2))


# ---- the ops, end to end, on the documented draws ------------------------------------------


def elem_keys(key, batch_size):
  """The per-sample keys of mode "elem": `split(split(key)[1], B)` (see `jaxmix.mix_batch`)."""
  return jax.random.split(jax.random.split(key)[1], batch_size)


def coded(batch_size, h, w):
  code = np.arange(batch_size * h * w, dtype=np.int32).reshape(batch_size, h, w)
  return jnp.asarray(np.stack([code, code % 7], -1).astype(np.float32))


def test_saliencymix_box_is_official_saliency_bbox_on_the_partner_peak():
  rng = np.random.default_rng(0)
  b, h, w = 4, 20, 24
  images = np.array(coded(b, h, w))
  images[..., 1] = rng.random((b, h, w)) * 50  # texture for the saliency
  images[:, 5:9, 14:18, 1] = 255.0  # an object
  images = jnp.asarray(images)
  key = jax.random.key(11)
  out, rows = jaxmix.saliencymix(key, images, jnp.arange(b), num_classes=b, mode="elem")
  keys = elem_keys(key, b)
  for i in range(b):
    partner = b - 1 - i
    lam = float(jaxmix.sample_lam(keys[i], 1.0))
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


def test_resizemix_pastes_the_resized_partner_on_the_documented_draws():
  b, h, w = 3, 12, 14
  images = coded(b, h, w)
  key = jax.random.key(4)
  out, rows = jaxmix.resizemix(key, images, jnp.arange(b), num_classes=b, mode="elem",
                               partner="roll", scale=(0.2, 0.9))
  for i, k in enumerate(elem_keys(key, b)):
    key_tau, key_centre = jax.random.split(k)
    tau = float(jax.random.uniform(key_tau, (), jnp.float32, 0.2, 0.9))
    cy, cx = (int(v) for v in jaxmix.sample_centre(key_centre, h, w))
    y1, y2, x1, x2 = ref_rand_bbox_tao(h, w, np.float32(tau), cy, cx)
    want = np.asarray(images[i]).copy()
    if y2 > y1 and x2 > x1:
      want[y1:y2, x1:x2] = ref_nearest(np.asarray(images[(i - 1) % b]), y2 - y1, x2 - x1)
    np.testing.assert_array_equal(np.asarray(out[i]), want)
    assert float(rows[i, i]) == pytest.approx(1 - (y2 - y1) * (x2 - x1) / (h * w), abs=1e-6)


@pytest.mark.parametrize("max_soft", [0.0, 0.1])
def test_fmix_composes_like_official_sample_and_apply(max_soft):
  b, h, w = 2, 10, 12
  images = coded(b, h, w)
  key = jax.random.key(8)
  out, rows = jaxmix.fmix(key, images, jnp.arange(b), num_classes=b, mode="batch",
                          max_soft=max_soft, spectrum="official")
  key_lam, key_noise = jax.random.split(jax.random.split(key)[1])
  lam = float(jaxmix.sample_lam(key_lam, 1.0))
  image = ref_low_freq_image(np.asarray(fmix.sample_normals(key_noise, h, w), np.float64)[None],
                             3.0, h, w, "official")[0]
  mask = ref_binarise(image, int(round(lam * h * w)), max_soft, lam).reshape(h, w)
  x = np.asarray(images, np.float64)
  want = x * mask[None, :, :, None] + x[::-1] * (1 - mask[None, :, :, None])
  np.testing.assert_allclose(np.asarray(out), want, rtol=1e-6, atol=1e-3)
  np.testing.assert_allclose(np.asarray(rows)[[0, 1], [0, 1]], mask.mean(), atol=1e-6)


@pytest.mark.parametrize("op", ["resizemix", "saliencymix", "fmix"])
def test_variants_keep_uint8_and_refuse_bad_options(op):
  images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (4, 9, 9, 3)), jnp.uint8)
  out, rows = jax.jit(lambda k, x: jaxmix.OPS[op](k, x, jnp.arange(4), num_classes=4,
                                                  mode="elem"))(jax.random.key(0), images)
  assert out.dtype == jnp.uint8 and out.shape == images.shape
  np.testing.assert_allclose(np.asarray(rows).sum(1), 1.0, atol=1e-6)
  with pytest.raises(ValueError, match="mode"):
    jaxmix.OPS[op](jax.random.key(0), images, jnp.arange(4), num_classes=4, mode="bogus")
  bad = {"resizemix": {"scale": (0.9, 0.1)}, "saliencymix": {"alpha": -1.0},
         "fmix": {"max_soft": 0.7}}[op]
  with pytest.raises(ValueError, match=list(bad)[0]):
    jaxmix.OPS[op](jax.random.key(0), images, jnp.arange(4), num_classes=4, **bad)


def test_readme_variants_snippet_runs():
  text = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
  match = re.search(r"<!-- VARIANTS -->\n```python\n(.*?)```\n<!-- /VARIANTS -->", text, re.S)
  assert match, "README.md has no VARIANTS block"
  namespace = {}
  exec(compile(match.group(1), "README.md", "exec"), namespace)
  assert namespace["dets_out"]["boxes"].shape == (8, 2, 4)
  assert namespace["batch"]["mask"].shape == (8, 32, 32, 10)
  assert namespace["seg_out"].dtype == jnp.int32


@pytest.mark.parametrize("op", ["saliencymix", "fmix"])
def test_traced_invalid_alpha_gives_nan_rows_not_a_silent_no_op(op):
  images = coded(2, 8, 8)
  rows = jax.jit(lambda a: jaxmix.OPS[op](jax.random.key(0), images, jnp.arange(2),
                                          num_classes=2, alpha=a)[1])(-1.0)
  assert np.isnan(np.asarray(rows)).all()


@pytest.mark.parametrize("op", ["cutmix", "mixup", "resizemix", "saliencymix", "fmix"])
def test_extras_and_dict_keys_are_mixed_alike_and_named(op):
  images = coded(4, 8, 8)
  code = jnp.arange(4 * 64, dtype=jnp.int32).reshape(4, 8, 8)
  batch = {"rgb": images, "view2": images * 2.0, "y": jnp.arange(4), "seg": code,
           "id": jnp.asarray([7, 8, 9, 10])}
  key = jax.random.key(6)
  out = jaxmix.mix_dict(key, batch, op=op, image_key=("rgb", "view2"), label_key="y",
                        mask_key="seg", boxes_key=None, num_classes=4, mode="elem")
  assert set(out) == set(batch)
  np.testing.assert_allclose(np.asarray(out["view2"]), 2.0 * np.asarray(out["rgb"]), rtol=1e-6)
  assert out["id"] is batch["id"]  # not named: passed through
  x, y, seg = jaxmix.OPS[op](key, images, jnp.arange(4), num_classes=4, mode="elem",
                             masks=code)
  np.testing.assert_array_equal(np.asarray(out["rgb"]), np.asarray(x))
  np.testing.assert_array_equal(np.asarray(out["y"]), np.asarray(y))
  with pytest.raises(ValueError, match="no key 'image'"):
    jaxmix.mix_dict(key, {"rgb": images, "label": jnp.arange(4)}, op=op, num_classes=4)
  with pytest.raises(ValueError, match="op must be one of"):
    jaxmix.mix_dict(key, batch, op="gridmix", image_key="rgb", label_key="y")


def test_jitted_ops_with_targets_do_not_retrace_for_new_alpha():
  images, code = coded(4, 8, 8), jnp.arange(4 * 64, dtype=jnp.int32).reshape(4, 8, 8)
  dets = {"boxes": jnp.tile(jnp.asarray([[1.0, 1.0, 6.0, 7.0]]), (4, 1, 1))}

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(key, alpha):
    return jaxmix.OPS["fmix"](key, images, jnp.arange(4), num_classes=4, alpha=alpha,
                              masks=code, boxes=dets, mode="elem")

  for i, alpha in enumerate([0.5, 1.0, 2.0]):
    out = step(jax.random.key(i), jnp.float32(alpha))
    assert out[3]["boxes"].shape == (4, 2, 4)


def ref_openmixup_kernel(size, rand_w, rand_h, sigma):
  """openmixup `smoothmix`'s `gaussian_kernel` (square images), restated in NumPy."""
  s = size * 2
  x_grid = np.tile(np.arange(s), (s, 1))
  grid = np.stack([x_grid, x_grid.T], axis=-1).astype(np.float64)
  grid = np.roll(np.roll(grid, rand_w, 0), rand_h, 1)
  crop = s // 4
  grid = grid[crop:s - crop, crop:s - crop]
  mean = (s - 1) / 2
  return np.exp(-np.sum((grid - mean) ** 2, axis=-1) / (2 * sigma ** 2))


def test_smoothmix_blob_is_openmixups_kernel_and_labels_are_its_share():
  h = 12
  images = coded(2, h, h)
  key = jax.random.key(2)
  out, rows = jaxmix.smoothmix(key, images, jnp.arange(2), num_classes=2, mode="batch")
  key_centre, key_sigma = jax.random.split(jax.random.split(key)[1])
  iy, ix = (int(v) for v in jaxmix.sample_centre(key_centre, h, h))
  sigma = float(jax.random.uniform(key_sigma, (), jnp.float32, 0.25, 0.5)) * h
  # openmixup draws rand_w = randint(0, w) - w / 2 and rolls the grid's rows by it.
  g = ref_openmixup_kernel(h, iy - h // 2, ix - h // 2, sigma)
  x = np.asarray(images, np.float64)
  want = x * (1 - g[None, :, :, None]) + x[::-1] * g[None, :, :, None]
  np.testing.assert_allclose(np.asarray(out), want, rtol=1e-5, atol=1e-2)
  np.testing.assert_allclose(np.asarray(rows)[[0, 1], [0, 1]], 1 - g.mean(), atol=1e-6)
  g_ours, lam = smoothmix.sample_mask(jax.random.key(0), 5, 9)
  assert g_ours.shape == (5, 9) and 0 < float(lam) < 1
