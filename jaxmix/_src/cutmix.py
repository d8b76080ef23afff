"""CutMix (Yun et al. 2019): paste a box from a partner image, mix labels by area."""

from typing import Optional

import chex
import jax
import jax.numpy as jnp

from jaxmix import _checks
from jaxmix import _layout
from jaxmix import boxes
from jaxmix import labels as labels_lib
from jaxmix import modes
from jaxmix import partners


def paste_box(images: jax.Array, partner_images: jax.Array, box: boxes.Box,
              data_format: str = "NHWC") -> jax.Array:
  """Copies `box` of `partner_images` into `images` (pixels exact, dtype kept).

  Args:
    images, partner_images: [B, H, W, C] (or NCHW), same shape and dtype; or a
      single [H, W, C] image each.
    box: one `Box` of scalars for all, or of [B] arrays, one per image.
    data_format: "NHWC" or "NCHW".

  Returns:
    Array like `images`.
  """
  height, width = _layout.image_size(images, data_format)
  mask = _layout.expand_mask(boxes.box_mask(box, height, width), data_format)
  return jnp.where(mask, partner_images, images)


def _sampler(alpha, minmax, height: int, width: int):
  def draw(key):
    key_lam, key_box = jax.random.split(key)
    if minmax is None:
      lam = boxes.sample_lam(key_lam, alpha)
      return boxes.sample_box(key_box, lam, height, width), lam
    box = boxes.sample_box_minmax(key_box, minmax, height, width)
    return box, boxes.corrected_lam(box, height, width)
  return draw


def _validate(alpha, minmax, data_format):
  _checks.check_choice("data_format", data_format, _checks.DATA_FORMATS)
  _checks.check_minmax(minmax)
  if minmax is None:
    _checks.check_positive("alpha", alpha)


def cutmix_single(key: chex.PRNGKey, image: jax.Array, partner_image: jax.Array, *,
                  alpha=1.0, minmax: Optional[tuple[float, float]] = None,
                  correct_lam: bool = True, data_format: str = "NHWC"
                  ) -> tuple[jax.Array, jax.Array]:
  """CutMix of one image with its partner: the per-sample op behind elem mode.

  `jax.vmap(cutmix_single)` over `jax.random.split(k, B)` equals the images of
  `cutmix(..., mode="elem")` where `k` is the second key of `split(key)`.

  Returns:
    (mixed_image, lam): lam is the label weight of `image` (corrected to the
    pasted area when `correct_lam` or `minmax`).
  """
  _checks.check_images(image, rank=3, name="image")
  _validate(alpha, minmax, data_format)
  if partner_image.shape != image.shape or partner_image.dtype != image.dtype:
    raise ValueError(f"partner_image must match image, got {partner_image.shape} "
                     f"{partner_image.dtype} vs {image.shape} {image.dtype}")
  height, width = _layout.image_size(image, data_format)
  box, lam = _sampler(alpha, minmax, height, width)(key)
  if correct_lam or minmax is not None:
    lam = boxes.corrected_lam(box, height, width)
  return paste_box(image, partner_image, box, data_format), lam


def cutmix(key: chex.PRNGKey, images: jax.Array, labels: jax.Array, *, alpha=1.0,
           mode: str = "batch", partner: str = "flip",
           minmax: Optional[tuple[float, float]] = None, correct_lam: bool = True,
           num_classes: Optional[int] = None, label_smoothing=0.0, num_shards: int = 1,
           data_format: str = "NHWC") -> tuple[jax.Array, jax.Array]:
  """CutMix: replaces a box of each image with the same box of its partner.

  λ ~ Beta(α, α); box from the official CutMix `rand_bbox` (cut ratio √(1−λ),
  centre uniform, clipped), or timm's `rand_bbox_minmax` when `minmax` is given.
  Labels become λ·y + (1 − λ)·y_partner with λ = 1 − box area / (H·W) when
  `correct_lam` (always with `minmax`, as timm). Pixels are copied exactly, so
  uint8 stays uint8 and bit-exact.

  Args:
    key: PRNG key.
    images: [B, H, W, C] (NCHW with `data_format="NCHW"`), integer or float.
    labels: integer ids [B] (with `num_classes`) or float rows [B, K].
    alpha: α > 0 (float or traced scalar).
    mode: "batch" (one λ and box), "pair" (timm pair mode) or "elem" (per sample).
    partner: "flip", "roll" or "permute" (see `jaxmix.partners`).
    minmax: optional (lo, hi) side-length fractions, timm's `cutmix_minmax`.
    correct_lam: correct λ to the clipped box's area (official CutMix and timm).
    num_classes: K, required for integer labels.
    label_smoothing: timm's smoothing s applied to the rows before mixing.
    num_shards: keep partners within this many contiguous groups (devices).
    data_format: "NHWC" or "NCHW".

  Returns:
    (mixed_images, mixed_labels): images like `images`; float32 rows [B, K]
    that sum to 1. With a batch of 1 the partner is the image itself, so the
    output equals the input.
  """
  _checks.check_images(images)
  _validate(alpha, minmax, data_format)
  _checks.check_choice("mode", mode, _checks.MODES)
  modes.check_pair_partner(mode, partner)
  rows = labels_lib.batch_label_rows(images, labels, num_classes, label_smoothing)
  batch_size = images.shape[0]
  height, width = _layout.image_size(images, data_format)
  key_partner, key_params = jax.random.split(key)
  box, lam = modes.draw_params(key_params, _sampler(alpha, minmax, height, width),
                               mode, batch_size, num_shards)
  if correct_lam or minmax is not None:
    lam = boxes.corrected_lam(box, height, width)
  partner_images = partners.gather_partners(images, key_partner, partner, num_shards)
  partner_rows = partners.gather_partners(rows, key_partner, partner, num_shards)
  mixed = paste_box(images, partner_images, box, data_format)
  return mixed, labels_lib.mix_labels(lam, rows, partner_rows)
