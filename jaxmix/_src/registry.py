"""Every op by name, with targets: `OPS`, `mix_targets` and the dict batch `mix_dict`.

An experiment config names an op ("cutmix", "mixup", "cutout", "resizemix",
"saliencymix", "fmix", "smoothmix") and its options; `OPS[name]` is a function

  fn(key, images, labels, *, masks=None, boxes=None, extras=(), **options)
    -> (images, labels[, masks][, boxes][, *extras])

that mixes per-pixel targets, boxes and extra image-like arrays exactly as the
images. `mix_dict` does the same for a dict batch {"image", "label", "mask",
"boxes"} with the keys nameable.
"""

from typing import Optional, Sequence

import chex
import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import _layout
from jaxmix._src import batch
from jaxmix._src import boxes as boxes_lib
from jaxmix._src import cutmix as cutmix_lib
from jaxmix._src import cutout as cutout_lib
from jaxmix._src import dense
from jaxmix._src import detection
from jaxmix._src import fmix as fmix_lib
from jaxmix._src import mixup as mixup_lib
from jaxmix._src import modes
from jaxmix._src import resizemix as resizemix_lib
from jaxmix._src import saliencymix as saliencymix_lib
from jaxmix._src import smoothmix as smoothmix_lib

def cutmix(key: chex.PRNGKey, images: jax.Array, labels: jax.Array, *, alpha=1.0,
           minmax: Optional[tuple] = None, correct_lam: bool = True,
           box_convention: str = "official", mode: str = "elem", partner: str = "flip",
           num_classes: Optional[int] = None, label_smoothing=0.0, num_shards: int = 1,
           axis_name=None, multi_label: bool = False, data_format: str = "NHWC", masks=None,
           boxes=None, extras: Sequence = (), ignore_value: int = 255,
           min_visible=detection.DEFAULT_MIN_VISIBLE,
           normalized_boxes: bool = False):
  """`jaxmix.cutmix` with targets: the same draws, the box pasted into masks too.

  Image boxes are cut to what stays visible, the partner's clipped to the patch.
  """
  _checks.check_images(images)
  _checks.check_choice("data_format", data_format, _checks.DATA_FORMATS)
  height, width = _layout.image_size(images, data_format)
  op = cutmix_lib.cutmix_op(alpha, minmax, correct_lam or minmax is not None, height, width,
                            data_format, box_convention)
  return batch.run_op(key, images, labels, op, lambda p: ("paste", p["box"]), mode=mode,
                      partner=partner, num_shards=num_shards, num_classes=num_classes,
                      label_smoothing=label_smoothing, data_format=data_format, masks=masks,
                      boxes=boxes, extras=extras, ignore_value=ignore_value,
                      min_visible=min_visible, normalized_boxes=normalized_boxes,
                      axis_name=axis_name, multi_label=multi_label)


def mixup(key: chex.PRNGKey, images: jax.Array, labels: jax.Array, *, alpha=1.0,
          mode: str = "elem", partner: str = "flip", num_classes: Optional[int] = None,
          label_smoothing=0.0, num_shards: int = 1, axis_name=None, multi_label: bool = False,
          data_format: str = "NHWC", masks=None, boxes=None, extras: Sequence = (),
          ignore_value: int = 255,
          min_visible=detection.DEFAULT_MIN_VISIBLE, normalized_boxes: bool = False):
  """`jaxmix.mixup` with targets: masks blended into soft rows, both box sets kept.

  Integer masks need `num_classes` (they become per-pixel rows); the image's
  boxes keep weight λ, the partner's get 1 − λ.
  """
  _checks.check_images(images)
  _checks.check_positive("alpha", alpha)
  _checks.check_choice("data_format", data_format, _checks.DATA_FORMATS)
  if masks is not None and dense.is_integer(masks) and num_classes is None:
    raise ValueError("num_classes is required to mix integer masks with mixup "
                     "(a blend gives each pixel soft rows over the classes)")
  return batch.run_op(key, images, labels, mixup_lib.mixup_op(alpha),
                      lambda lam: ("blend", lam), mode=mode, partner=partner,
                      num_shards=num_shards, num_classes=num_classes,
                      label_smoothing=label_smoothing, data_format=data_format, masks=masks,
                      boxes=boxes, extras=extras, ignore_value=ignore_value,
                      min_visible=min_visible, normalized_boxes=normalized_boxes,
                      axis_name=axis_name, multi_label=multi_label)


def cutout(key: chex.PRNGKey, images: jax.Array, labels=None, *, size: int, fill=0,
           mode: str = "elem", data_format: str = "NHWC", masks=None, boxes=None,
           extras: Sequence = (), ignore_value: int = 255,
           min_visible=detection.DEFAULT_MIN_VISIBLE, normalized_boxes: bool = False,
           num_classes: Optional[int] = None, label_smoothing=0.0):
  """`jaxmix.cutout` with targets: erased pixels get `ignore_value`, boxes are cut.

  Labels are returned unchanged (`num_classes` and `label_smoothing` are
  accepted so one config serves every op, and ignored); boxes keep their N
  slots (there is no partner).
  The square is the one `jaxmix.cutout(key, images, size=..., mode=...)` erases.
  """
  images_out = cutout_lib.cutout(key, images, size=size, fill=fill, mode=mode,
                                 data_format=data_format)
  opts = batch.target_options(images, masks, boxes, data_format, ignore_value, min_visible,
                              normalized_boxes, None)
  height, width = opts["height"], opts["width"]

  def draw(k):  # the draw of `jaxmix.cutout`, repeated so the targets get the same square
    cy, cx = boxes_lib.sample_centre(k, height, width)
    return boxes_lib.cutout_box(cy, cx, size, height, width)

  box = modes.draw_params(key, draw, mode, images.shape[0])
  out = (images_out, labels)
  if masks is not None:
    out += (dense.erase_dense(masks, boxes_lib.box_mask(box, height, width),
                              ignore_value=ignore_value, data_format=data_format),)
  if boxes is not None:
    dets = opts["boxes"]
    region = detection.region_from_box(box, height, width, opts["normalized"])
    coords, valid = detection.occlude(dets["boxes"], dets["valid"], region, min_visible)
    out += ({**dets, "boxes": coords, "valid": valid,
             "weights": jnp.where(valid, dets["weights"], 0.0)},)
  extra_out = tuple(cutout_lib.erase_box(x, box, fill, data_format) for x in extras)
  return out + extra_out


OPS = {
    "cutmix": cutmix,
    "mixup": mixup,
    "cutout": cutout,
    "resizemix": resizemix_lib.resizemix,
    "saliencymix": saliencymix_lib.saliencymix,
    "fmix": fmix_lib.fmix,
    "smoothmix": smoothmix_lib.smoothmix,
}


def mix_targets(key: chex.PRNGKey, images: jax.Array, labels, *, op: str, **options):
  """`OPS[op](key, images, labels, **options)`, with a one-line error for an unknown name."""
  _checks.check_choice("op", op, tuple(OPS))
  return OPS[op](key, images, labels, **options)


def mix_dict(key: chex.PRNGKey, batch_dict: dict, *, op: str, image_key="image",
             label_key: Optional[str] = "label", mask_key: Optional[str] = "mask",
             boxes_key: Optional[str] = "boxes", **options) -> dict:
  """Mixes a dict batch with op `op`; returns a dict with the same keys.

  Args:
    key: PRNG key.
    batch_dict: e.g. {"image": [B, H, W, C], "label": [B], "mask": [B, H, W],
      "boxes": {"boxes": [B, N, 4], "valid": [B, N], "classes": [B, N]}, ...}.
    op: a name in `OPS`.
    image_key: the key of the images, or a tuple of keys: the first is the
      images, the rest are mixed like them (other views).
    label_key, mask_key, boxes_key: keys of labels, dense targets and
      detections; a key that is None or absent from the batch is skipped.
    **options: the op's options (alpha, mode, partner, num_classes, ...).

  Returns:
    A new dict: mixed entries under their keys (labels become float rows;
    boxes get 2N slots), every other entry passed through unchanged.
  """
  if not isinstance(batch_dict, dict):
    raise TypeError(f"batch must be a dict, got {type(batch_dict).__name__}")
  image_keys = (image_key,) if isinstance(image_key, str) else tuple(image_key)
  for name in image_keys + tuple(k for k in (label_key,) if k is not None):
    if name not in batch_dict:
      raise ValueError(f"batch has no key {name!r}; it has {sorted(batch_dict)}")
  get = lambda k: batch_dict.get(k) if k is not None else None
  masks, boxes = get(mask_key), get(boxes_key)
  out = mix_targets(key, batch_dict[image_keys[0]], get(label_key), op=op, masks=masks,
                    boxes=boxes, extras=tuple(batch_dict[k] for k in image_keys[1:]),
                    **options)
  result = dict(batch_dict)
  result[image_keys[0]] = out[0]
  if label_key is not None:
    result[label_key] = out[1]
  rest = list(out[2:])
  if masks is not None:
    result[mask_key] = rest.pop(0)
  if boxes is not None:
    result[boxes_key] = rest.pop(0)
  for k, x in zip(image_keys[1:], rest):
    result[k] = x
  return result
