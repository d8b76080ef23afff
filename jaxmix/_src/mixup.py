"""Mixup (Zhang et al. 2018): blend two whole images and their labels."""

from typing import Optional

import chex
import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import _layout
from jaxmix._src import mixing
from jaxmix._src import sampling


def blend(images: jax.Array, partner_images: jax.Array, lam: jax.Array) -> jax.Array:
  """λ·x + (1 − λ)·x_partner in float32, returned in the images' dtype.

  Floating images are computed in float32 and cast back (bfloat16 / float16
  round once). Integer images are computed in float32, rounded half to even and
  clipped to the dtype's range, as timm's `FastCollateMixup` does for uint8.

  Args:
    images, partner_images: same shape and dtype.
    lam: scalar or one per image ([B]).
  """
  lam = _layout.expand_per_sample(jnp.asarray(lam, jnp.float32), images.ndim)
  mixed = (images.astype(jnp.float32) * lam
           + partner_images.astype(jnp.float32) * (1.0 - lam))
  if jnp.issubdtype(images.dtype, jnp.integer):
    info = jnp.iinfo(images.dtype)
    mixed = jnp.clip(jnp.round(mixed), info.min, info.max)
  return mixed.astype(images.dtype)


def mixup_op(alpha) -> mixing.MixOp:
  """Mixup as a `MixOp`: λ ~ Beta(α, α), blend, label weights (λ, 1 − λ)."""
  return mixing.MixOp(
      draw=lambda key: sampling.sample_lam(key, alpha),
      apply=lambda lam, x, partner_x: blend(x, partner_x, lam),
      weights=lambda lam: (lam, 1.0 - jnp.asarray(lam, jnp.float32)))


def mixup(key: chex.PRNGKey, images: jax.Array, labels: jax.Array, *, alpha=1.0,
          mode: str = "batch", partner: str = "flip", num_classes: Optional[int] = None,
          label_smoothing=0.0, num_shards: int = 1, data_format: str = "NHWC"
          ) -> tuple[jax.Array, jax.Array]:
  """Mixup: λ·x + (1 − λ)·x_partner and λ·y + (1 − λ)·y_partner, λ ~ Beta(α, α).

  Args:
    key: PRNG key.
    images: [B, H, W, C] (or NCHW); integer images are blended in float32 and
      rounded back (see `blend`).
    labels: integer ids [B] (with `num_classes`) or float rows [B, K].
    alpha: α > 0.
    mode: "batch", "pair" or "elem".
    partner: "flip", "roll" or "permute".
    num_classes, label_smoothing, num_shards, data_format: as in `jaxmix.cutmix`.

  Returns:
    (mixed_images, mixed_labels) with float32 label rows [B, K] that sum to 1.
    With a batch of 1 the partner is the image itself: the output is the input
    up to float rounding (exactly, for integer images).
  """
  _checks.check_images(images)
  _checks.check_positive("alpha", alpha)
  _checks.check_choice("data_format", data_format, _checks.DATA_FORMATS)
  out = mixing.mix_batch(key, images, labels, mixup_op(alpha), mode=mode, partner=partner,
                         num_shards=num_shards, num_classes=num_classes,
                         label_smoothing=label_smoothing)
  return out.images, out.targets
