"""FMix (Harris et al. 2020): masks from thresholded low-frequency Fourier noise.

A mask is drawn in three steps, as the official code (ecs-vlc/FMix `fmix.py`):
1. Gaussian noise in the half-plane Fourier domain of an H×W image, scaled by
   1 / max(f, 1 / max(H, W))^δ (`fftfreqs`, `low_freq_image`);
2. its inverse real FFT, shifted and scaled to [0, 1] (the low-frequency image);
3. λ ~ Beta(α, α) and the round(λ·H·W) largest pixels set to 1, the rest to 0
   (`binarise_mask`), optionally with a linear ramp of width `max_soft` at the
   threshold. Mask 1 keeps the image, 0 takes its partner, so the mask mean
   is the image's label weight.
"""

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxmix._src import _checks
from jaxmix._src import _layout
from jaxmix._src import batch
from jaxmix._src import mixing
from jaxmix._src import sampling

SPECTRA = ("official", "full")


def fftfreqs(height: int, width: int) -> np.ndarray:
  """Radial frequencies of the half-plane DFT grid: official FMix `fftfreqnd(h, w)`.

  Returns float64 [H, W // 2 + 1] (W // 2 + 2 columns for odd W, as the official
  code; the extra column is cropped by the inverse FFT). Static: NumPy.
  """
  fy = np.fft.fftfreq(height)[:, None]
  fx = np.fft.fftfreq(width)[: width // 2 + (2 if width % 2 else 1)]
  return np.sqrt(fx * fx + fy * fy)


def spectrum_scale(height: int, width: int, decay_power) -> jax.Array:
  """1 / max(f, 1 / max(H, W))^δ on the `fftfreqs` grid (official `get_spectrum`)."""
  freqs = np.maximum(fftfreqs(height, width), 1.0 / max(height, width)).astype(np.float32)
  return 1.0 / jnp.asarray(freqs) ** jnp.asarray(decay_power, jnp.float32)


def _fit(z: jax.Array, rows: int, cols: int) -> jax.Array:
  """Crops or zero-pads a spectrum at the end, as NumPy's `irfftn(z, s)` does."""
  z = z[:rows, :cols]
  return jnp.pad(z, ((0, rows - z.shape[0]), (0, cols - z.shape[1])))


def low_freq_image(normals: jax.Array, decay_power, height: int, width: int, *,
                   spectrum: str = "official") -> jax.Array:
  """The low-frequency image of FMix from standard normal draws, in [0, 1].

  Args:
    normals: float [H, F, 2] standard normals, F = `fftfreqs(H, W).shape[1]`
      (the official `get_spectrum`'s `param` for one channel).
    decay_power: δ (float or traced scalar).
    height, width: static image size.
    spectrum: "official" (default) is exactly the released code, whose
      `spectrum[:, 0] + 1j * spectrum[:, 1]` indexes the frequency rows rather
      than the (real, imaginary) pairs: the first two rows of draws become the
      real and imaginary parts of an F×2 block of coefficients, laid on the
      lowest rows and two lowest columns of the grid. "full" is the paper's
      formula: every coefficient complex Gaussian, scaled by its own frequency.

  Returns:
    float32 [H, W]; equals the official `make_low_freq_image(δ, (H, W))[0]`
    given the same draws (spectrum="official").
  """
  _checks.check_choice("spectrum", spectrum, SPECTRA)
  scaled = spectrum_scale(height, width, decay_power)[..., None] * normals.astype(jnp.float32)
  if spectrum == "official":
    # [F, 2]: rows = y frequency, columns = x frequency. The official code fails
    # for H = 1 (no second row); the imaginary part is 0 there.
    imag = scaled[1] if height > 1 else jnp.zeros_like(scaled[0])
    coeffs = jax.lax.complex(scaled[0], imag)
  else:
    coeffs = jax.lax.complex(scaled[..., 0], scaled[..., 1])  # [H, F]
  coeffs = _fit(coeffs, height, width // 2 + 1)
  # Complex inverse along y, then the real inverse along x (NumPy's irfftn order);
  # imaginary parts that a real signal cannot carry are dropped, as there.
  image = jnp.fft.irfft(jnp.fft.ifft(coeffs, axis=0), n=width, axis=1)
  image = image - jnp.min(image)
  top = jnp.max(image)
  return jnp.where(top > 0, image / jnp.where(top > 0, top, 1.0), 0.0)


def binarise_mask(image: jax.Array, lam: jax.Array, *, max_soft=0.0) -> jax.Array:
  """Keeps the round(λ·H·W) largest pixels of `image`: official `binarise_mask`.

  The official code takes ⌈λ·H·W⌉ or ⌊λ·H·W⌋ at random; this takes the nearest
  integer. With `max_soft` > 0, the `2·s` pixels ranked around the threshold
  (s = ⌊H·W·min(max_soft, λ, 1 − λ)⌋) ramp linearly from 1 to 0, as there; the
  mask mean stays round(λ·H·W) / (H·W).

  Args:
    image: [H, W] float.
    lam: λ in [0, 1], scalar (traced or not).
    max_soft: softening in [0, 0.5] (float, may be traced).

  Returns:
    float32 [H, W] mask in [0, 1]; ramp weights within 1e-6 of 0 or 1 are snapped
    to it (`_layout.snap_weights`), the same under jit and eagerly.
  """
  size = image.size
  flat = image.reshape(-1)
  order = jnp.argsort(-flat, stable=True)
  rank = jnp.zeros((size,), jnp.int32).at[order].set(jnp.arange(size, dtype=jnp.int32))
  lam = jnp.asarray(lam, jnp.float32)
  num = jnp.round(lam * size).astype(jnp.int32)
  eff_soft = jnp.minimum(jnp.asarray(max_soft, jnp.float32), jnp.minimum(lam, 1.0 - lam))
  soft = jnp.floor(size * eff_soft).astype(jnp.int32)
  low, high = num - soft, num + soft
  # (d − k) / d with d = high − low − 1: the last ramp pixel's numerator is exactly 0, so
  # it is 0 however XLA divides (1 − k / d left ≈ 4e-9 under jit).
  steps = jnp.maximum(high - low - 1, 1).astype(jnp.float32)
  ramp = (high - 1 - rank).astype(jnp.float32) / steps
  mask = jnp.where(rank < low, 1.0, jnp.where(rank >= high, 0.0, ramp))
  return _layout.snap_weights(mask.reshape(image.shape))


def num_words(height: int, width: int) -> int:
  """Words of one FMix draw: λ (`sampling.LAM_WORDS`), then one per normal [H, F, 2]."""
  rows, cols = fftfreqs(height, width).shape
  return sampling.LAM_WORDS + 2 * rows * cols


def normals_from_words(words: jax.Array, height: int, width: int) -> jax.Array:
  """Standard normals [H, F, 2] from as many words, by Box–Muller on their two halves."""
  u = sampling.unit(words)
  half = u.shape[-1] // 2
  radius = jnp.sqrt(-2.0 * jnp.log(u[..., :half]))
  angle = (2.0 * jnp.pi) * u[..., half:]
  normals = jnp.concatenate([radius * jnp.cos(angle), radius * jnp.sin(angle)], axis=-1)
  return normals.reshape(words.shape[:-1] + fftfreqs(height, width).shape + (2,))


def sample_normals(key: jax.Array, height: int, width: int) -> jax.Array:
  """The standard normal draws [H, F, 2] that `low_freq_image` turns into an image:
  words 4 … of row 0 of `random_words(key, ...)`, as `sample_mask` draws them."""
  words = sampling.random_words(key, 1, num_words(height, width) - sampling.LAM_WORDS,
                                offset=sampling.LAM_WORDS)[0]
  return normals_from_words(words, height, width)


def mask_from_words(words: jax.Array, height: int, width: int, *, alpha=1.0, decay_power=3.0,
                    max_soft=0.0, spectrum: str = "official",
                    lam: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
  """`sample_mask` from `num_words(H, W)` words: λ from words 0 … 3, normals from the rest."""
  if lam is None:
    lam = sampling.beta_from_words(words[:sampling.LAM_WORDS], alpha)
  normals = normals_from_words(words[sampling.LAM_WORDS:], height, width)
  image = low_freq_image(normals, decay_power, height, width, spectrum=spectrum)
  mask = binarise_mask(image, lam, max_soft=max_soft)
  # A traced α <= 0 draws NaN, and a traced δ that is negative or not finite makes a mask
  # that is not FMix's: keep the weight NaN rather than a plausible mask mean.
  decay = jnp.asarray(decay_power, jnp.float32)
  invalid = jnp.isnan(lam) | ~jnp.isfinite(decay) | (decay < 0)
  return mask, jnp.where(invalid, jnp.nan, jnp.mean(mask))


def sample_mask(key: jax.Array, height: int, width: int, *, alpha=1.0, decay_power=3.0,
                max_soft=0.0, spectrum: str = "official",
                lam: Optional[jax.Array] = None) -> tuple[jax.Array, jax.Array]:
  """One FMix mask and its label weight: official `sample_mask(α, δ, (H, W), max_soft)`.

  Args:
    key: PRNG key; the draws are row 0 of `random_words(key, ...)`: λ =
      `sample_lam(key, α)` and the normals `sample_normals(key, H, W)`.
    height, width: static mask size.
    alpha: α > 0 of λ ~ Beta(α, α).
    decay_power: δ; larger is smoother (the paper uses 3).
    max_soft: soft-edge width in [0, 0.5].
    spectrum: "official" or "full" (see `low_freq_image`).
    lam: use this λ instead of drawing one.

  Returns:
    (mask, weight): float32 [H, W] in [0, 1], 1 where the image is kept; and
    the mask mean, the image's label weight (λ rounded to whole pixels).
  """
  words = sampling.random_words(key, 1, num_words(height, width))[0]
  return mask_from_words(words, height, width, alpha=alpha, decay_power=decay_power,
                         max_soft=max_soft, spectrum=spectrum, lam=lam)


def _is_hard(max_soft) -> bool:
  value = _checks.concrete_value(max_soft)
  return value is not None and float(value) == 0.0


def apply_mask(images: jax.Array, partner_images: jax.Array, keep: jax.Array,
               data_format: str = "NHWC") -> jax.Array:
  """keep·x + (1 − keep)·x_partner per pixel; a bool `keep` copies pixels exactly.

  A float `keep` blends in float32; integer images are rounded half to even and
  clipped, as `jaxmix.blend`.
  """
  mask = _layout.expand_mask(keep, data_format)
  if keep.dtype == jnp.bool_:
    return jnp.where(mask, images, partner_images)
  mixed = mask * images.astype(jnp.float32) + (1.0 - mask) * partner_images.astype(jnp.float32)
  if jnp.issubdtype(images.dtype, jnp.integer):
    info = jnp.iinfo(images.dtype)
    mixed = jnp.clip(jnp.round(mixed), info.min, info.max)
  return mixed.astype(images.dtype)


def fmix_op(alpha, decay_power, max_soft, spectrum: str, height: int, width: int,
            data_format: str) -> mixing.MixOp:
  """FMix as a `MixOp`: {"keep": mask, "lam": mask mean}; bool masks when `max_soft` is 0."""
  hard = _is_hard(max_soft)

  def draw(words):
    mask, weight = mask_from_words(words, height, width, alpha=alpha, decay_power=decay_power,
                                   max_soft=max_soft, spectrum=spectrum)
    return {"keep": mask > 0.5 if hard else mask, "lam": weight}

  return mixing.MixOp(draw=draw, num_words=num_words(height, width),
                      apply=lambda p, x, px: apply_mask(x, px, p["keep"], data_format),
                      weights=lambda p: (p["lam"], 1.0 - p["lam"]),
                      exact_on_self=hard)  # a hard mask copies pixels; a soft one blends


def fmix(key: jax.Array, images: jax.Array, labels: jax.Array, *, alpha=1.0,
         decay_power=3.0, max_soft=0.0, spectrum: str = "official", mode: str = "elem",
         partner: str = "flip", num_classes: Optional[int] = None, label_smoothing=0.0,
         num_shards: int = 1, axis_name=None, multi_label: bool = False,
         data_format: str = "NHWC", prob=1.0, **targets):
  """FMix: mixes each image with its partner through a low-frequency Fourier mask.

  Equivalent to the official `sample_mask(α, δ, (H, W), max_soft)` given the same
  draws (see `sample_mask`); the label weight of the image is the mask mean
  (round(λ·H·W) / (H·W) for hard masks), i.e. exactly the share of its pixels.

  Args:
    key: PRNG key.
    images: [B, H, W, C] (or NCHW). Hard masks (`max_soft=0`, the default)
      copy pixels exactly; soft edges blend in float32 (integers rounded back).
    labels: integer ids [B] (with `num_classes`) or float rows [B, K].
    alpha: α > 0 of λ ~ Beta(α, α).
    decay_power: δ >= 0, the spectrum's decay (the paper's default 3); a traced
      δ that is negative or not finite gives NaN label rows.
    max_soft: soft-edge width in [0, 0.5].
    spectrum: "official" (the released code) or "full" (see `low_freq_image`).
    mode, partner, num_classes, label_smoothing, num_shards, data_format: as
      `jaxmix.cutmix`; "elem" draws one mask per image.
    {targets}

  Returns:
    (images, label_rows), followed by the mixed masks, boxes and extras that
    were given. Boxes shrink to the pixels of their own source that show.
    A sample that is its own partner is returned exactly unchanged, with
    its label row, masks, boxes (partner slots empty) and extras.
  """
  _checks.check_positive("alpha", alpha)
  _checks.check_non_negative("decay_power", decay_power)
  _checks.check_choice("spectrum", spectrum, SPECTRA)
  soft = _checks.concrete_value(max_soft)
  if soft is not None and not 0.0 <= float(soft) <= 0.5:
    raise ValueError(f"max_soft must be in [0, 0.5], got {float(soft)}")
  height, width = batch.image_size(images, data_format)
  op = fmix_op(alpha, decay_power, max_soft, spectrum, height, width, data_format)
  return batch.run_op(key, images, labels, op, lambda p: ("mask", p["keep"]), mode=mode,
                      partner=partner, num_shards=num_shards, num_classes=num_classes,
                      label_smoothing=label_smoothing, data_format=data_format,
                      axis_name=axis_name, multi_label=multi_label, name="fmix", prob=prob,
                      **targets)


fmix.__doc__ = fmix.__doc__.replace("{targets}", batch.TARGET_ARGS_DOC)
