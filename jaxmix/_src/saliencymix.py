"""SaliencyMix (Uddin et al. 2021): the CutMix box centred on the partner's saliency peak.

A uniformly placed CutMix box often cuts background out of the partner while
the label credits the partner's class. SaliencyMix centres the box on the
most salient pixel of the partner. The official code uses OpenCV's
fine-grained static saliency; OpenCV is not jit-able, so this uses the
spectral residual saliency of Hou & Zhang (2007), written with FFTs and static
filter matrices so it runs inside `jit` and `vmap`:

  gray → F = FFT(gray) → L = log(|F| + 10⁻³·mean|F|) → R = L − mean₃ₓ₃(L)
  → S = |IFFT(exp(R + i·∠F))|² → Gaussian blur σ → peak = first argmax (row-major).

The 3×3 mean wraps around (the spectrum is periodic); the Gaussian reflects at
the borders (SciPy's `mode="mirror"`, truncated at 4σ as SciPy).
"""

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxmix._src import _checks
from jaxmix._src import _layout
from jaxmix._src import batch
from jaxmix._src import boxes
from jaxmix._src import mixing
from jaxmix._src import sampling

# ITU-R BT.601 luma weights, as OpenCV's RGB → gray.
_LUMA = (0.299, 0.587, 0.114)
# log|F| is floored at 1e-3 of the mean amplitude: flat synthetic images have
# exact spectral zeros, whose log (−∞) would otherwise dominate the residual.
_FLOOR = 1e-3


def default_sigma(height: int, width: int) -> float:
  """σ of the blur: max(H, W) / 32 pixels (≈ OpenCV's 64-pixel map blurred over 2 pixels)."""
  return max(height, width) / 32.0


def _mirror_index(index: np.ndarray, size: int) -> np.ndarray:
  if size == 1:
    return np.zeros_like(index)
  period = 2 * (size - 1)
  index = np.mod(index, period)
  return np.where(index >= size, period - index, index)


def gaussian_matrix(size: int, sigma: float, truncate: float = 4.0) -> np.ndarray:
  """The [size, size] matrix of a 1-D Gaussian blur with mirrored borders (static)."""
  radius = int(truncate * sigma + 0.5)
  taps = np.arange(-radius, radius + 1)
  weights = np.exp(-0.5 * taps.astype(np.float64) ** 2 / sigma ** 2)
  weights /= weights.sum()
  matrix = np.zeros((size, size))
  rows = np.arange(size)[:, None]
  np.add.at(matrix, (np.broadcast_to(rows, (size, taps.size)),
                     _mirror_index(rows + taps[None, :], size)), weights[None, :])
  return matrix.astype(np.float32)


def grayscale(image: jax.Array, data_format: str = "NHWC") -> jax.Array:
  """[H, W, C] (or [C, H, W]) → float32 [H, W]: BT.601 luma for C = 3, else the channel mean."""
  x = image.astype(jnp.float32)
  if data_format == "NCHW":
    x = jnp.moveaxis(x, 0, -1)
  if x.shape[-1] == 3:
    return x @ jnp.asarray(_LUMA, jnp.float32)
  return jnp.mean(x, axis=-1)


def spectral_residual(image: jax.Array, *, sigma: Optional[float] = None,
                      data_format: str = "NHWC") -> jax.Array:
  """Spectral residual saliency map of one image (Hou & Zhang 2007).

  Args:
    image: [H, W, C] (or [C, H, W] with `data_format="NCHW"`), any real dtype.
    sigma: Gaussian blur σ in pixels (static; default `default_sigma(H, W)`).
    data_format: "NHWC" or "NCHW".

  Returns:
    float32 [H, W], non-negative; larger is more salient.
  """
  _checks.check_images(image, rank=3, name="image")
  gray = grayscale(image, data_format)
  height, width = gray.shape
  sigma = default_sigma(height, width) if sigma is None else float(sigma)
  if not sigma > 0:
    raise ValueError(f"sigma must be > 0, got {sigma}")
  spectrum = jnp.fft.fft2(gray)
  amplitude = jnp.abs(spectrum)
  log_amp = jnp.log(amplitude + _FLOOR * jnp.mean(amplitude) + 1e-12)
  local_mean = sum(jnp.roll(log_amp, (dy, dx), axis=(0, 1))
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9.0
  residual = log_amp - local_mean
  phase = jnp.angle(spectrum)
  saliency = jnp.abs(jnp.fft.ifft2(jnp.exp(residual) * jnp.exp(1j * phase))) ** 2
  blur_y = jnp.asarray(gaussian_matrix(height, sigma))
  blur_x = jnp.asarray(gaussian_matrix(width, sigma))
  return (blur_y @ saliency.astype(jnp.float32) @ blur_x.T).astype(jnp.float32)


def saliency_peak(image: jax.Array, *, sigma: Optional[float] = None,
                  data_format: str = "NHWC") -> tuple[jax.Array, jax.Array]:
  """(cy, cx) int32 of the first maximum of `spectral_residual(image)` in row-major order."""
  saliency = spectral_residual(image, sigma=sigma, data_format=data_format)
  index = jnp.argmax(saliency.reshape(-1)).astype(jnp.int32)
  return index // saliency.shape[1], index % saliency.shape[1]


def saliency_peaks(images: jax.Array, *, sigma: Optional[float] = None,
                   data_format: str = "NHWC") -> tuple[jax.Array, jax.Array]:
  """`saliency_peak` of every image of a batch: (cy, cx), each int32 [B]."""
  _checks.check_images(images)
  return jax.vmap(lambda x: saliency_peak(x, sigma=sigma, data_format=data_format))(images)


def saliencymix_op(alpha, height: int, width: int, sigma: Optional[float],
                   data_format: str) -> mixing.MixOp:
  """SaliencyMix as a `MixOp`: λ drawn, box placed once the partners are known."""
  def refine(params, images, partner_images):
    cy, cx = saliency_peaks(partner_images, sigma=sigma, data_format=data_format)
    box = boxes.box_from_centre(params["lam"], cy, cx, height, width)
    # A traced α <= 0 draws NaN; keep it NaN rather than a plausible area.
    lam = jnp.where(jnp.isnan(params["lam"]), jnp.nan, boxes.corrected_lam(box, height, width))
    return {"box": box, "lam": lam}

  def paste(params, x, partner_x):
    mask = _layout.expand_mask(boxes.box_mask(params["box"], height, width), data_format)
    return jnp.where(mask, partner_x, x)

  return mixing.MixOp(draw=lambda words: {"lam": sampling.beta_from_words(words, alpha)},
                      num_words=sampling.LAM_WORDS,
                      apply=paste, weights=lambda p: (p["lam"], 1.0 - p["lam"]),
                      refine=refine, exact_on_self=True)  # a pixel copy


def saliencymix(key: jax.Array, images: jax.Array, labels: jax.Array, *, alpha=1.0,
                sigma: Optional[float] = None, mode: str = "elem", partner: str = "flip",
                num_classes: Optional[int] = None, label_smoothing=0.0, num_shards: int = 1,
                axis_name=None, multi_label: bool = False, data_format: str = "NHWC",
                prob=1.0, **targets):
  """SaliencyMix: CutMix with the box centred on the partner's saliency peak.

  λ ~ Beta(α, α) gives the official CutMix box size (cut ratio √(1 − λ)); the
  box is centred on `saliency_peak` of the partner and clipped, as the official
  `saliency_bbox` (with spectral residual saliency instead of OpenCV's
  fine-grained saliency). Each image's box follows its own partner's peak, so
  boxes differ per sample even in batch mode, where λ is shared (the official
  code uses the first partner's peak for the whole batch). Labels are weighted
  by the pasted area, as the official code.

  Args:
    key: PRNG key.
    images: [B, H, W, C] (or NCHW); pixels are copied exactly (dtype kept).
    labels: integer ids [B] (with `num_classes`) or float rows [B, K].
    alpha: α > 0.
    sigma: saliency blur σ in pixels (default max(H, W) / 32).
    mode, partner, num_classes, label_smoothing, num_shards, data_format: as
      `jaxmix.cutmix`.
    {targets}

  Returns:
    (images, label_rows), followed by the mixed masks, boxes and extras that
    were given.
    A sample that is its own partner is returned exactly unchanged, with
    its label row, masks, boxes (partner slots empty) and extras.
  """
  _checks.check_positive("alpha", alpha)
  if sigma is not None:
    _checks.check_positive("sigma", sigma)
  height, width = batch.image_size(images, data_format)
  op = saliencymix_op(alpha, height, width, sigma, data_format)
  return batch.run_op(key, images, labels, op, lambda p: ("paste", p["box"]), mode=mode,
                      partner=partner, num_shards=num_shards, num_classes=num_classes,
                      label_smoothing=label_smoothing, data_format=data_format,
                      axis_name=axis_name, multi_label=multi_label, name="saliencymix", prob=prob,
                      **targets)


saliencymix.__doc__ = saliencymix.__doc__.replace("{targets}", batch.TARGET_ARGS_DOC)
