"""ResizeMix (Qin et al. 2020): the whole partner, shrunk into a box of the image.

CutMix's box may hold only background of the partner while the label still
credits the partner's class; ResizeMix pastes the entire partner, resized, so
the partner's object is in the patch and the label weight (the patch's area)
is true. The box side is a fraction τ ~ U(scale) of the image side, centred
uniformly and clipped as CutMix's box; the partner is resized to the clipped
box, as openmixup's and mmpretrain's `ResizeMix`.
"""

from typing import Optional

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import batch
from jaxmix._src import boxes
from jaxmix._src import mixing
from jaxmix._src import resize
from jaxmix._src import sampling

def check_scale(scale) -> tuple:
  return _checks.check_range("scale", scale, high=1)


def box_from_scale(tau: jax.Array, cy: jax.Array, cx: jax.Array, height: int,
                   width: int) -> boxes.Box:
  """The box of side ⌊H·τ⌋ × ⌊W·τ⌋ centred at (cy, cx), clipped (openmixup `rand_bbox_tao`)."""
  tau = jnp.asarray(tau, jnp.float32)
  cut_h = jnp.floor(height * tau).astype(jnp.int32)
  cut_w = jnp.floor(width * tau).astype(jnp.int32)
  return boxes.Box(*(c.astype(jnp.int32) for c in (
      jnp.clip(cy - cut_h // 2, 0, height), jnp.clip(cy + cut_h // 2, 0, height),
      jnp.clip(cx - cut_w // 2, 0, width), jnp.clip(cx + cut_w // 2, 0, width))))


# Words of one ResizeMix draw: τ (1), then the centre (boxes.CENTRE_WORDS).
NUM_WORDS = 1 + boxes.CENTRE_WORDS


def box_from_words(words: jax.Array, height: int, width: int,
                   scale: tuple = (0.1, 0.8)) -> tuple[boxes.Box, jax.Array]:
  """`sample_box` from `NUM_WORDS` words: τ from word 0, the centre from words 1 … 4."""
  tau = sampling.uniform(words[..., 0], scale[0], scale[1])
  cy, cx = boxes.centre_from_words(words[..., 1:], height, width)
  return box_from_scale(tau, cy, cx, height, width), tau


def sample_box(key: jax.Array, height: int, width: int,
               scale: tuple = (0.1, 0.8)) -> tuple[boxes.Box, jax.Array]:
  """Draws τ ~ U(scale) and a uniform centre from row 0 of `random_words(key, ...)`
  (`box_from_words`); returns (box, τ)."""
  scale = check_scale(scale)
  return box_from_words(sampling.random_words(key, 1, NUM_WORDS)[0], height, width, scale)


def resizemix_op(scale, height: int, width: int, method: str,
                 data_format: str) -> mixing.MixOp:
  """ResizeMix as a `MixOp`: box from τ, resized paste, label weight = 1 − area / (H·W)."""
  axes = (1, 2) if data_format == "NHWC" else (2, 3)

  def draw(words):
    box, _ = box_from_words(words, height, width, scale)
    return {"box": box, "lam": boxes.corrected_lam(box, height, width)}

  return mixing.MixOp(
      draw=draw, num_words=NUM_WORDS,
      apply=lambda p, x, px: resize.resize_into_boxes(x, px, p["box"], method=method, axes=axes),
      weights=lambda p: (p["lam"], 1.0 - p["lam"]))


def resizemix(key: jax.Array, images: jax.Array, labels: jax.Array, *,
              scale: tuple = (0.1, 0.8), method: str = "nearest", mode: str = "elem",
              partner: str = "flip", num_classes: Optional[int] = None, label_smoothing=0.0,
              num_shards: int = 1, axis_name=None, multi_label: bool = False,
         data_format: str = "NHWC", prob=1.0, **targets):
  """ResizeMix: the whole partner, resized, pasted into a box; labels weighted by its area.

  τ ~ U(scale); the box of side ⌊H·τ⌋ × ⌊W·τ⌋ is centred uniformly and clipped
  (openmixup's `rand_bbox_tao`); the partner is resized to the clipped box with
  PyTorch's `interpolate` nearest (default: exact pixel copies, dtype kept) or
  bilinear (align_corners=False) arithmetic. The label weight of the partner is
  the box's area fraction, which is exactly what it occupies.

  Args:
    key: PRNG key.
    images: [B, H, W, C] (or NCHW).
    labels: integer ids [B] (with `num_classes`) or float rows [B, K].
    scale: (lo, hi), 0 < lo <= hi <= 1: range of the side fraction τ
      (Qin et al.: (0.1, 0.8)).
    method: "nearest" or "bilinear" for images and soft targets (integer masks
      are always resized nearest).
    mode, partner, num_classes, label_smoothing, num_shards, data_format: as
      `jaxmix.cutmix`.
    {targets}

  Returns:
    (images, label_rows), followed by the mixed masks, boxes and extras that
    were given. Boxes of the partner are scaled into the patch.
    A sample that is its own partner is returned exactly unchanged, with
    its label row, masks, boxes (partner slots empty) and extras.
  """
  check_scale(scale)
  _checks.check_choice("method", method, resize.METHODS)
  height, width = batch.image_size(images, data_format)
  op = resizemix_op(scale, height, width, method, data_format)
  return batch.run_op(key, images, labels, op, lambda p: ("resize", p["box"]), mode=mode,
                      partner=partner, num_shards=num_shards, num_classes=num_classes,
                      label_smoothing=label_smoothing, data_format=data_format,
                      method=method, axis_name=axis_name, multi_label=multi_label,
                      name="resizemix", prob=prob,
                      **targets)


resizemix.__doc__ = resizemix.__doc__.replace("{targets}", batch.TARGET_ARGS_DOC)
