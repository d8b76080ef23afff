"""CutMix (Yun et al. 2019): paste a box from a partner image, mix labels by area."""

from typing import Optional

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import _layout
from jaxmix._src import batch
from jaxmix._src import boxes
from jaxmix._src import mixing
from jaxmix._src import paste
from jaxmix._src import sampling

METHODS = ("auto", "mask", "patch")


def paste_box(images: jax.Array, partner_images: jax.Array, box: boxes.Box,
              data_format: str = "NHWC") -> jax.Array:
  """Copies `box` of `partner_images` into `images` (pixels exact, dtype kept).

  This is CutMix's apply step: images, partner images, boxes in; mixed images out.

  Args:
    images, partner_images: [B, H, W, C] (or NCHW), same shape and dtype; or a
      single [H, W, C] image each.
    box: one `Box` of scalars for all, or of [B] arrays, one per image.
    data_format: "NHWC" or "NCHW".

  Returns:
    Array like `images`.
  """
  return boxes.where_box(box, partner_images, images, data_format)


# Words of one CutMix draw: λ (sampling.LAM_WORDS), then the centre (boxes.CENTRE_WORDS) or
# timm's min/max box (boxes.MINMAX_WORDS).
_CENTRE_AT = sampling.LAM_WORDS


def _sampler(alpha, minmax, correct_lam: bool, height: int, width: int, box_convention: str):
  """One sample's draw from its words: {"box", "lam"}, lam the label weight of the image."""
  def draw(words):
    if minmax is None:
      drawn = sampling.beta_from_words(words[:_CENTRE_AT], alpha)
      cy, cx = boxes.centre_from_words(words[_CENTRE_AT:], height, width)
      box = boxes.box_from_centre(drawn, cy, cx, height, width, box_convention=box_convention)
      lam = boxes.corrected_lam(box, height, width) if correct_lam else drawn
      # A traced invalid α gives a NaN λ and an empty box; the corrected λ would
      # then read 1 (a silent no-op), so keep the NaN in the labels.
      lam = jnp.where(jnp.isnan(drawn), jnp.nan, lam)
    else:
      box = boxes.box_minmax_from_words(words, minmax, height, width,
                                        box_convention=box_convention)
      lam = boxes.corrected_lam(box, height, width)
    return {"box": box, "lam": lam}
  return draw


def cutmix_op(alpha, minmax, correct_lam: bool, height: int, width: int,
              data_format: str, box_convention: str = "official") -> mixing.MixOp:
  """CutMix as a `MixOp` (sampler, paste, label weights by area).

  Words: λ = `beta_from_words(words[0:4])` and the centre `centre_from_words(words[4:8])`;
  with `minmax`, the box `box_minmax_from_words(words[0:8])`.
  """
  return mixing.MixOp(
      draw=_sampler(alpha, minmax, correct_lam, height, width, box_convention),
      num_words=_CENTRE_AT + boxes.CENTRE_WORDS if minmax is None else boxes.MINMAX_WORDS,
      apply=lambda params, x, partner_x: paste_box(x, partner_x, params["box"], data_format),
      weights=lambda params: (params["lam"], 1.0 - jnp.asarray(params["lam"], jnp.float32)),
      exact_on_self=True)  # pixels are copied: a sample pasted from itself is itself


def _validate(alpha, minmax, data_format, box_convention):
  _checks.check_choice("data_format", data_format, _checks.DATA_FORMATS)
  _checks.check_choice("box_convention", box_convention, _checks.BOX_CONVENTIONS)
  minmax = _checks.check_minmax(minmax)
  if minmax is None:
    _checks.check_positive("alpha", alpha)
  return minmax


def cutmix_single(key: jax.Array, image: jax.Array, partner_image: jax.Array, *,
                  alpha=1.0, minmax: Optional[tuple[float, float]] = None,
                  correct_lam: bool = True, data_format: str = "NHWC",
                  box_convention: str = "official", index=0) -> tuple[jax.Array, jax.Array]:
  """CutMix of one image with its partner: sample `index` of elem mode.

  With the same key and options, `cutmix_single(key, x[i], x[j], index=i)` is row i
  of `cutmix(key, x, ..., mode="elem")` when sample i mixes with partner j (j ≠ i, and
  the gate on, as always with the default `prob=1`): it reads row i of the same words.
  `jax.vmap` over `index` (with the partners gathered) gives the whole elem batch.

  Returns:
    (mixed_image, lam): lam is the label weight of `image` (corrected to the
    pasted area when `correct_lam` or `minmax`).
  """
  _checks.check_images(image, rank=3, name="image")
  minmax = _validate(alpha, minmax, data_format, box_convention)
  if partner_image.shape != image.shape or partner_image.dtype != image.dtype:
    raise ValueError(f"partner_image must match image, got {partner_image.shape} "
                     f"{partner_image.dtype} vs {image.shape} {image.dtype}")
  height, width = _layout.image_size(image, data_format)
  op = cutmix_op(alpha, minmax, correct_lam or minmax is not None, height, width, data_format,
                 box_convention)
  rows = jnp.reshape(jnp.asarray(index, jnp.int32), (1,))
  words = sampling.random_words(key, rows, mixing.OP_WORDS_OFFSET + op.num_words)[0]
  params = op.draw(words[mixing.OP_WORDS_OFFSET:])
  return op.apply(params, image, partner_image), params["lam"]


def cutmix(key: jax.Array, images: jax.Array, labels: jax.Array, *, alpha=1.0,
           mode: str = "elem", partner: str = "flip",
           minmax: Optional[tuple[float, float]] = None, correct_lam: bool = True,
           num_classes: Optional[int] = None, label_smoothing=0.0, num_shards: int = 1,
           axis_name=None, multi_label: bool = False, box_convention: str = "official",
           data_format: str = "NHWC", method: str = "auto", prob=1.0, **targets) -> tuple:
  """CutMix: replaces a box of each image with the same box of its partner.

  λ ~ Beta(α, α); box from CutMix's `rand_bbox` (cut ratio √(1−λ), centre uniform,
  clipped; official or timm 1.0.31 edges per `box_convention`), or timm's
  `rand_bbox_minmax` when `minmax` is given.
  Labels become λ·y + (1 − λ)·y_partner with λ = 1 − box area / (H·W) when
  `correct_lam` (always with `minmax`, as timm). Pixels are copied exactly, so
  uint8 stays uint8 and bit-exact.

  Args:
    key: PRNG key.
    images: [B, H, W, C] (NCHW with `data_format="NCHW"`), integer or float.
    labels: integer ids [B] (with `num_classes`) or float rows [B, K].
    alpha: α > 0 (float or traced scalar).
    mode: λ and box granularity: "batch" (one for all), "host", "device" (one per
      shard), "elem" or "sample" (one per sample), "pair" (timm's pair mode).
    partner: "flip", "roll" or "permute" (see `jaxmix.partner_index`).
    minmax: optional (lo, hi) side-length fractions, timm's `cutmix_minmax`;
      concrete numbers (static under jit).
    correct_lam: correct λ to the clipped box's area (official CutMix and timm).
    num_classes: K, required for integer labels (static int).
    label_smoothing: timm's smoothing s applied to the rows before mixing.
    num_shards: keep partners within this many contiguous groups (devices).
    axis_name: inside `shard_map`, the mapped batch axis: `images` is the local
      shard and partners and draws are per device, as `num_shards` = axis size.
    multi_label: labels are multi-hot [B, K] targets (timm's `multi_label`).
    box_convention: "official" (default; clovaai/CutMix-PyTorch) or "timm"
      (timm 1.0.31); see `jaxmix.box_from_centre`.
    data_format: "NHWC" or "NCHW".
    method: how pixels are pasted; every method gives the same result bit for bit.
      "mask": `where(box_mask, partner_images, images)`, one fused pass that reads
      the batch twice and writes a new one (fuses with neighbouring ops in a jit).
      "patch": rewrite only what the boxes cover (`jaxmix._src.paste`): on CUDA a
      Pallas Triton kernel that moves only box pixels, elsewhere (and exported, or
      with `num_shards > 1`) a loop over image rows; in place when `images` is
      donated (`jax.jit(..., donate_argnums=...)`) or is a dead intermediate; not
      donated, XLA copies the batch first. Not differentiable (use "mask").
      "auto": "mask" on every backend (docs/speed.md says why).
    {targets}

  Returns:
    (mixed_images, mixed_labels): images like `images`; float32 rows [B, K]
    that sum to 1; followed by the mixed masks, boxes and extras that were given
    (the image's boxes cut to what stays visible, the partner's clipped to the
    patch). A sample whose partner is itself (a batch of 1, the middle
    of an odd batch with flip, a fixed point of permute) is returned exactly
    unchanged, with its label row, masks, boxes (partner slots empty) and extras.
    λ is NaN in the labels for a traced α that is <= 0 or not finite.
  """
  _checks.check_images(images)
  minmax = _validate(alpha, minmax, data_format, box_convention)
  _checks.check_bool("correct_lam", correct_lam)
  height, width = _layout.image_size(images, data_format)
  op = cutmix_op(alpha, minmax, correct_lam or minmax is not None, height, width, data_format,
                 box_convention)
  _checks.check_choice("method", method, METHODS)
  if method == "patch":
    if axis_name is not None:  # the patch path re-derives the global partners
      raise ValueError("method='patch' does not support axis_name; use method='mask' inside "
                       "shard_map")
    if not targets.get("extras"):  # extras keep the mask apply: any dtype, same pixels
      op = op._replace(apply=paste.cutmix_apply(key, images.shape[0], partner=partner,
                                                num_shards=num_shards, data_format=data_format))
  return batch.run_op(key, images, labels, op, lambda p: ("paste", p["box"]), mode=mode,
                      partner=partner, num_shards=num_shards, num_classes=num_classes,
                      label_smoothing=label_smoothing, data_format=data_format,
                      axis_name=axis_name, multi_label=multi_label, name="cutmix", prob=prob,
                      **targets)


cutmix.__doc__ = cutmix.__doc__.replace("{targets}", batch.TARGET_ARGS_DOC)
