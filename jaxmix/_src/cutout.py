"""Cutout (DeVries & Taylor 2017) and random erasing (Zhong et al. 2017): remove a box."""

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import _layout
from jaxmix._src import batch
from jaxmix._src import boxes
from jaxmix._src import dense
from jaxmix._src import detection
from jaxmix._src import mixing


def erase_box(images: jax.Array, box: boxes.Box, fill=0, data_format: str = "NHWC") -> jax.Array:
  """Sets the pixels inside `box` to `fill` (scalar or per channel), dtype kept."""
  channels = images.shape[-1] if data_format == "NHWC" else images.shape[-3]
  fill = _layout.expand_fill(fill, images.dtype, data_format, channels)
  return boxes.where_box(box, fill, images, data_format)


def cutout(key: jax.Array, images: jax.Array, labels=None, *, size: int, fill=0,
           mode: str = "elem", num_shards: int = 1, axis_name=None, data_format: str = "NHWC",
           num_classes=None, label_smoothing=0.0, prob=1.0, **targets):
  """Cutout: fills a square centred uniformly over the image, clipped at the borders.

  Equivalent to the official Cutout code (uoguelph-mlrg/Cutout) given the same
  centre: rows clip(cy − size//2, 0, H) .. clip(cy + size//2, 0, H), same for
  columns (so an odd `size` erases a square of side size − 1, as there).

  Args:
    key: PRNG key.
    images: [B, H, W, C] (or NCHW), any integer or float dtype (kept).
    labels: optional, returned unchanged (Cutout does not touch labels).
    size: side length > 0 (static int).
    fill: scalar or per-channel value (0 on normalized images is the mean); it
      must be finite and within the dtype's range.
    mode: "elem" / "sample" (one square per image, as the paper), "batch" (one
      for all), "host" or "device" (one per host / shard).
    num_shards, axis_name: the shards of "device" mode (as in `jaxmix.cutmix`).
    data_format: "NHWC" or "NCHW".
    num_classes, label_smoothing: accepted so that one config serves every op
      in `jaxmix.OPS`, and ignored.
    prob: probability in [0, 1] that an image (or the batch, group: per `mode`)
      is cut (float or traced scalar); the others come back unchanged.
    {targets}
      Erased pixels of integer masks get `ignore_value` (soft masks and extras
      get `fill`); boxes keep their N slots (there is no partner).

  Returns:
    The images (like `images`) when neither labels nor targets are given;
    otherwise (images, labels[, masks][, boxes]), then the extras given.
  """
  _checks.check_images(images)
  size = _checks.static_int("size", size)
  _checks.check_choice("mode", mode, tuple(m for m in _checks.MODES if m != "pair"))
  _checks.check_choice("data_format", data_format, _checks.DATA_FORMATS)
  t = batch.target_kwargs("cutout", targets)
  height, width = _layout.image_size(images, data_format)

  def draw(words):
    cy, cx = boxes.centre_from_words(words, height, width)
    return boxes.cutout_box(cy, cx, size, height, width)

  # Draws from `key` itself (there are no partners): word 0 the gate, 1 … 4 the centre.
  op = mixing.MixOp(draw=draw, num_words=boxes.CENTRE_WORDS, apply=erase_box, weights=None)
  active, box = mixing.draw(key, op, mode, images.shape[0], num_shards, axis_name, prob)
  off = mixing.inactive(active)
  unless_inactive = lambda original, out: mixing.keep_unmixed(off, original, out)
  images_out = unless_inactive(images, erase_box(images, box, fill, data_format))
  if labels is None and not batch.has_targets(t):
    return images_out
  opts = batch.target_options(images, t["masks"], t["boxes"], data_format, t["ignore_value"],
                              t["min_visible"], t["normalized_boxes"], None, extras=t["extras"])
  out = (images_out, labels)
  if t["masks"] is not None:
    out += (unless_inactive(t["masks"], dense.erase_dense(
        t["masks"], boxes.box_mask(box, height, width), ignore_value=t["ignore_value"],
        data_format=data_format)),)
  if t["boxes"] is not None:
    dets = opts["boxes"]
    region = detection.region_from_box(box, height, width, opts["normalized"])
    coords, valid = detection.occlude(dets["boxes"], dets["valid"], region, t["min_visible"])
    out += (unless_inactive(dets, {**dets, "boxes": coords, "valid": valid,
                                   "weights": jnp.where(valid, dets["weights"], 0.0)}),)
  return out + tuple(unless_inactive(x, erase_box(x, box, fill, data_format))
                     for x in t["extras"])


cutout.__doc__ = cutout.__doc__.replace("{targets}", batch.TARGET_ARGS_DOC)


def random_erasing(key: jax.Array, images: jax.Array, *, prob=0.5,
                   area: tuple[float, float] = (0.02, 1 / 3),
                   aspect: tuple[float, float] = (0.3, 1 / 0.3), fill=0,
                   attempts: int = 10, axis_name=None, data_format: str = "NHWC") -> jax.Array:
  """Random erasing: with probability `prob`, fills a random rectangle per image.

  The rectangle covers a fraction of the image uniform in `area`, with aspect
  ratio (h / w) log-uniform in `aspect`; see `boxes.sample_erasing_box`. Where no
  attempt fits the image is left as is.

  Args:
    key: PRNG key.
    images: [B, H, W, C] (or NCHW).
    prob: probability in [0, 1] per image (float or traced scalar).
    area, aspect, attempts: rectangle sampling ranges.
    fill: scalar or per-channel value.
    axis_name: inside `shard_map`, the mapped batch axis (each device then draws
      its own samples' rectangles, as the unsharded call would).
    data_format: "NHWC" or "NCHW".

  Returns:
    Array like `images`.
  """
  _checks.check_images(images)
  _checks.check_probability("prob", prob)
  height, width = _layout.image_size(images, data_format)

  def draw(words):
    box, found = boxes.erasing_box_from_words(words, height, width, area=area,
                                              aspect=aspect, attempts=attempts)
    return boxes.Box(*(jnp.where(found, c, 0) for c in box))

  # Row i of `random_words(key, ...)`: word 0 the gate, then the rectangle's words.
  op = mixing.MixOp(draw=draw, num_words=boxes.erasing_words(attempts), apply=erase_box,
                    weights=None)
  active, box = mixing.draw(key, op, "elem", images.shape[0], axis_name=axis_name, prob=prob)
  return mixing.keep_unmixed(mixing.inactive(active), images,
                             erase_box(images, box, fill, data_format))
