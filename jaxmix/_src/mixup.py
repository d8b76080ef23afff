"""Mixup (Zhang et al. 2018): blend whole images and their labels; n-way as big_vision."""

from typing import Optional

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import _layout
from jaxmix._src import batch
from jaxmix._src import dense
from jaxmix._src import mixing
from jaxmix._src import sampling


def _round_back(mixed: jax.Array, dtype) -> jax.Array:
  if jnp.issubdtype(dtype, jnp.integer):
    info = jnp.iinfo(dtype)
    mixed = jnp.clip(jnp.round(mixed), info.min, info.max)
  return mixed.astype(dtype)


def blend(images: jax.Array, partner_images: jax.Array, lam: jax.Array) -> jax.Array:
  """λ·x + (1 − λ)·x_partner in float32, returned in the images' dtype.

  Floating images are computed in float32 and cast back (bfloat16 / float16
  round once). Integer images are computed in float32, rounded half to even and
  clipped to the dtype's range, as timm's `FastCollateMixup` does for uint8 (equal to
  that float32 formula for every dtype). Against the exact blend λ·x + (1 − λ)·x'
  the result is off by at most 1/2 + 2**(e − 23) for |x|, |x'| < 2**e: the nearest
  integer for 8- and 16-bit images unless the exact blend lies within 2**(e − 23)
  (≤ 2**−7) of a half; int32 values beyond 2**24 lose float32's precision.
  Where x equals its partner (a sample mixed with itself) the result is x exactly.

  Args:
    images, partner_images: same shape and dtype.
    lam: scalar or one per image ([B]).
  """
  lam = _layout.expand_per_sample(jnp.asarray(lam, jnp.float32), images.ndim)
  mixed = (images.astype(jnp.float32) * lam
           + partner_images.astype(jnp.float32) * (1.0 - lam))
  mixed = _round_back(mixed, images.dtype)
  return jnp.where((images == partner_images) & ~jnp.isnan(lam), images, mixed)


def blend_n(images: jax.Array, partners, weights) -> jax.Array:
  """Σ_k w_k·x_k over the image and its partners, in float32, back to the dtype.

  Args:
    images: [B, ...].
    partners: the partner batches, each like `images`.
    weights: one weight per source (the image's first), scalars or [B].
  """
  sources = (images,) + tuple(partners)
  expand = lambda w: _layout.expand_per_sample(jnp.asarray(w, jnp.float32), images.ndim)
  mixed = expand(weights[0]) * sources[0].astype(jnp.float32)
  for w, x in zip(weights[1:], sources[1:]):
    mixed = mixed + expand(w) * x.astype(jnp.float32)
  return _round_back(mixed, images.dtype)


def mixup_op(alpha) -> mixing.MixOp:
  """Mixup as a `MixOp`: λ ~ Beta(α, α), blend, label weights (λ, 1 − λ)."""
  return mixing.MixOp(
      draw=lambda words: sampling.beta_from_words(words, alpha),
      num_words=sampling.LAM_WORDS,
      apply=lambda lam, x, partner_x: blend(x, partner_x, lam),
      weights=lambda lam: (lam, 1.0 - jnp.asarray(lam, jnp.float32)),
      exact_on_self=True)  # `blend` returns x where x equals its partner


def mixup_n_op(alpha, num_mixed: int) -> mixing.MixOp:
  """n-way Mixup (big_vision `utils.mixup`): weights ~ Dirichlet(α·1_n), sorted so
  the image keeps the largest; partner k is the sample k places back (roll by k)."""
  def draw(words):
    return -jnp.sort(-sampling.dirichlet_from_words(words, alpha, num_mixed), axis=-1)

  def weights(w):
    return tuple(w[..., k] for k in range(num_mixed))

  return mixing.MixOp(draw=draw, num_words=num_mixed * sampling.GAMMA_WORDS,
                      apply=lambda w, x, *partners: blend_n(x, partners, weights(w)),
                      weights=weights, num_partners=num_mixed - 1)


def mixup(key: jax.Array, images: jax.Array, labels: jax.Array, *, alpha=1.0,
          mode: str = "elem", partner: str = "flip", num_classes: Optional[int] = None,
          label_smoothing=0.0, num_shards: int = 1, axis_name=None,
          multi_label: bool = False, num_mixed: int = 2, data_format: str = "NHWC",
          prob=1.0, **targets) -> tuple:
  """Mixup: λ·x + (1 − λ)·x_partner and λ·y + (1 − λ)·y_partner, λ ~ Beta(α, α).

  With `num_mixed = n > 2`, big_vision's n-way Mixup: weights w ~ Dirichlet(α·1_n)
  sorted in decreasing order, output Σ_k w_k·x_{i−k} (partner k = roll by k, so
  `partner` must be "roll"); the image keeps the largest weight.

  Args:
    key: PRNG key.
    images: [B, H, W, C] (or NCHW); integer images are blended in float32 and
      rounded back (see `blend`).
    labels: integer ids [B] (with `num_classes`) or float rows [B, K].
    alpha: α > 0 (float or traced scalar).
    mode: "batch", "host", "device", "elem" (or "sample") or "pair".
    partner: "flip", "roll" or "permute".
    num_classes, label_smoothing, num_shards, axis_name, multi_label, data_format:
      as in `jaxmix.cutmix`.
    num_mixed: n, the number of images mixed into each output (static int >= 2);
      with n > 2 only `extras` may be given among the targets. n may exceed the
      batch (or its group): partner k is i − k modulo the group size, so partners
      wrap around and a source met twice gets the sum of its weights.
    {targets}
      Integer masks need `num_classes`: a blend gives each pixel soft rows.

  Returns:
    (mixed_images, mixed_labels) with float32 label rows [B, K] that sum to 1;
    followed by the mixed masks, boxes (both sets kept, weights λ and 1 − λ)
    and extras that were given.
    A sample whose partners are all itself (a batch of 1, the middle of an
    odd batch with flip, a group of one with roll) is returned exactly
    unchanged, with its label row, masks, boxes (partner slots empty) and extras.
  """
  _checks.check_images(images)
  _checks.check_positive("alpha", alpha)
  _checks.check_choice("data_format", data_format, _checks.DATA_FORMATS)
  num_mixed = _checks.static_int("num_mixed", num_mixed, minimum=2)
  masks = targets.get("masks")
  if masks is not None and dense.is_integer(masks) and num_classes is None:
    raise ValueError("num_classes is required to mix integer masks with mixup "
                     "(a blend gives each pixel soft rows over the classes)")
  if num_mixed == 2:
    op = mixup_op(alpha)
  else:
    if partner != "roll" or mode == "pair":
      raise ValueError(f"num_mixed > 2 mixes sample i with i−1, …, i−n+1 (big_vision); "
                       f"partner must be 'roll' and mode not 'pair', got partner={partner!r}, "
                       f"mode={mode!r}")
    if masks is not None or targets.get("boxes") is not None:
      raise ValueError("masks and boxes are mixed two-way only; num_mixed must be 2 with "
                       f"them, got {num_mixed}")
    op = mixup_n_op(alpha, num_mixed)
  return batch.run_op(key, images, labels, op, lambda lam: ("blend", lam), mode=mode,
                      partner=partner, num_shards=num_shards, num_classes=num_classes,
                      label_smoothing=label_smoothing, data_format=data_format,
                      axis_name=axis_name, multi_label=multi_label, name="mixup", prob=prob,
                      **targets)


mixup.__doc__ = mixup.__doc__.replace("{targets}", batch.TARGET_ARGS_DOC)
