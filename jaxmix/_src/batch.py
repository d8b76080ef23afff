"""Mixing a whole batch: images, label rows, dense targets, boxes and other arrays, aligned.

Every op's draw fixes a *geometry*, one of

- ("paste", box):   the partner shows inside `box` (CutMix, SaliencyMix);
- ("resize", box):  the whole partner, resized, shows inside `box` (ResizeMix);
- ("mask", keep):   a per-pixel weight of the image [.., H, W], bool (hard) or
                    float (soft); the partner shows where it is 0 (FMix);
- ("blend", λ):     every pixel is λ·image + (1 − λ)·partner (Mixup).

`mix_arrays` runs the op through the one skeleton (`mixing.mix_batch`) and
applies the same geometry, with the same partners, to per-pixel targets
(`jaxmix._src.dense`) and boxes (`jaxmix._src.detection`), so image and targets
stay aligned pixel for pixel in every mode, layout and pairing.
"""

from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import _layout
from jaxmix._src import boxes as boxes_lib
from jaxmix._src import dense
from jaxmix._src import detection
from jaxmix._src import mixing
from jaxmix._src import resize

Geometry = tuple  # (kind, value)


class MixedBatch(NamedTuple):
  """Mixed images, label rows, dense targets, boxes and extra arrays (None where absent)."""
  images: jax.Array
  labels: Optional[jax.Array]
  masks: Optional[jax.Array]
  boxes: Optional[dict]
  extras: tuple


def image_size(images: jax.Array, data_format: str) -> tuple[int, int]:
  """(height, width) of a checked batch: rank, dtype and `data_format` give one-line errors."""
  _checks.check_images(images)
  _checks.check_choice("data_format", data_format, _checks.DATA_FORMATS)
  return _layout.image_size(images, data_format)


def target_options(images, masks, boxes, data_format: str, ignore_value: int,
                   min_visible, normalized_boxes: bool, num_classes: Optional[int],
                   method: str = "nearest", extras=()) -> dict:
  """Validates the targets against the images; returns what the appliers need."""
  axis_h, axis_w = _checks.spatial_axes(data_format, images.ndim)
  _checks.check_extras(extras, images, data_format)
  if masks is not None:
    dense.check_dense(masks, images, data_format)
  if boxes is not None:
    boxes = detection.check_detections(boxes, images.shape[0])
  _checks.check_int("ignore_value", ignore_value)
  _checks.check_probability("min_visible", min_visible)
  _checks.check_bool("normalized_boxes", normalized_boxes)
  return dict(height=images.shape[axis_h], width=images.shape[axis_w], data_format=data_format,
              ignore_value=ignore_value, min_visible=min_visible,
              normalized=bool(normalized_boxes), num_classes=num_classes, method=method,
              boxes=boxes)


def _dense_axes(targets: jax.Array, data_format: str) -> tuple[int, int]:
  if targets.ndim == 3:
    return (1, 2)
  return (1, 2) if data_format == "NHWC" else (2, 3)


def apply_dense(geometry: Geometry, targets: jax.Array, partner_targets: jax.Array,
                opts: dict) -> jax.Array:
  """Mixes dense targets with the op's geometry (see the module docstring)."""
  kind, value = geometry
  fmt = opts["data_format"]
  if kind == "paste":
    mask = boxes_lib.box_mask(value, opts["height"], opts["width"])
    return dense.paste_dense(targets, partner_targets, mask, fmt)
  if kind == "resize":
    method = "nearest" if dense.is_integer(targets) else opts["method"]
    return resize.resize_into_boxes(targets, partner_targets, value, method=method,
                                       axes=_dense_axes(targets, fmt))
  if kind == "mask":
    if value.dtype == jnp.bool_:
      return dense.paste_dense(targets, partner_targets, ~value, fmt)
    return dense.blend_dense(targets, partner_targets, 1.0 - value, data_format=fmt,
                             num_classes=opts["num_classes"], ignore_value=opts["ignore_value"])
  if kind == "blend":
    return dense.blend_dense(targets, partner_targets, 1.0 - jnp.asarray(value, jnp.float32),
                             data_format=fmt, num_classes=opts["num_classes"],
                             ignore_value=opts["ignore_value"])
  raise ValueError(f"unknown geometry {kind!r}")


def unmixed_dense(geometry: Geometry, targets: jax.Array, opts: dict) -> jax.Array:
  """What `apply_dense` gives a sample that keeps all its pixels: the targets as they are
  where the geometry copies pixels, their soft rows where it blends."""
  kind, value = geometry
  if kind in ("paste", "resize") or (kind == "mask" and value.dtype == jnp.bool_):
    return targets
  return dense.soft_rows(targets, num_classes=opts["num_classes"],
                         ignore_value=opts["ignore_value"], data_format=opts["data_format"])


def apply_boxes(geometry: Geometry, dets: dict, partner_dets: dict, opts: dict) -> dict:
  """Mixes detection targets with the op's geometry; 2N slots out (image's, then partner's)."""
  kind, value = geometry
  coords, valid = dets["boxes"], dets["valid"]
  p_coords, p_valid = partner_dets["boxes"], partner_dets["valid"]
  height, width, normalized = opts["height"], opts["width"], opts["normalized"]
  min_visible = opts["min_visible"]
  if kind in ("paste", "resize"):
    region = detection.region_from_box(value, height, width, normalized)
    out, keep = detection.occlude(coords, valid, region, min_visible)
    if kind == "paste":
      p_out, p_keep = detection.clip_to(p_coords, p_valid, region, min_visible)
    else:
      size = (1.0, 1.0) if normalized else (height, width)
      p_out, p_keep = detection.map_into(p_coords, p_valid, region, *size)
    return detection.combine(dets, partner_dets, out, keep, p_out, p_keep)
  if kind == "mask":
    keep_img = jnp.asarray(value, jnp.float32)
    out, keep = detection.through_mask(coords, valid, keep_img, min_visible, normalized)
    p_out, p_keep = detection.through_mask(p_coords, p_valid, 1.0 - keep_img, min_visible,
                                           normalized)
    return detection.combine(dets, partner_dets, out, keep, p_out, p_keep)
  if kind == "blend":
    lam = jnp.asarray(value, jnp.float32)
    return detection.combine(dets, partner_dets, coords, valid, p_coords, p_valid,
                             weights=(lam, 1.0 - lam))
  raise ValueError(f"unknown geometry {kind!r}")


def mix_arrays(key: jax.Array, images: jax.Array, labels: Optional[jax.Array],
               op: mixing.MixOp, geometry: Callable[[Any], Geometry], *, mode: str,
               partner: str, num_shards: int, num_classes: Optional[int], label_smoothing,
               masks: Optional[jax.Array] = None, boxes: Optional[dict] = None,
               extras: Sequence[jax.Array] = (), target_opts: dict, axis_name=None,
               multi_label: bool = False, prob=1.0) -> MixedBatch:
  """Runs `op` through the skeleton with dense targets, boxes and extra image-like arrays.

  `extras` are mixed with the op's own image apply (other views, depth maps:
  any array laid out like the images).
  """
  pairs = [mixing.Extra(x, op.apply, exact_on_self=op.exact_on_self) for x in extras]
  if masks is not None:
    pairs.append(mixing.Extra(
        masks, lambda p, t, pt: apply_dense(geometry(p), t, pt, target_opts),
        unmixed=lambda p, t: unmixed_dense(geometry(p), t, target_opts)))
  if boxes is not None:
    pairs.append(mixing.Extra(
        target_opts["boxes"], lambda p, d, pd: apply_boxes(geometry(p), d, pd, target_opts),
        unmixed=lambda p, d: detection.unmixed(d)))
  out = mixing.mix_batch(key, images, labels, op, mode=mode, partner=partner,
                         num_shards=num_shards, axis_name=axis_name, num_classes=num_classes,
                         label_smoothing=label_smoothing, multi_label=multi_label, prob=prob,
                         extras=pairs)
  mixed = list(out.extras)
  extra_out = tuple(mixed[:len(extras)])
  rest = mixed[len(extras):]
  mixed_masks = rest.pop(0) if masks is not None else None
  mixed_boxes = rest.pop(0) if boxes is not None else None
  return MixedBatch(out.images, out.targets, mixed_masks, mixed_boxes, extra_out)


def outputs(result: MixedBatch, masks, boxes) -> tuple:
  """(images, labels[, masks][, boxes]): the targets that were given come back, in order."""
  out = (result.images, result.labels)
  if masks is not None:
    out += (result.masks,)
  if boxes is not None:
    out += (result.boxes,)
  return out


TARGET_ARGS_DOC = """masks: optional dense targets: integer maps [B, H, W] or soft rows
      [B, H, W, K] (NCHW: [B, K, H, W]), mixed exactly as the images.
    boxes: optional detections, a dict {"boxes": [B, N, 4] (x1, y1, x2, y2),
      "valid": [B, N], "weights": [B, N], any other [B, N, ...]}; returned with
      2N slots (see `jaxmix._src.detection`).
    extras: further arrays laid out like `images` (other views), mixed alike.
    ignore_value: label of unlabelled pixels in integer masks.
    min_visible: drop boxes with less of their area visible.
    normalized_boxes: box coordinates in [0, 1] rather than pixels.
    axis_name, multi_label: as `jaxmix.mixup` (partners inside `shard_map`
      by axis name; multi-hot label rows).
    prob: probability in [0, 1] that a sample is mixed (float or traced
      scalar; one gate per batch, group, pair or sample as `mode` draws); an
      unmixed sample's image, label row and targets come back unchanged (its
      boxes in the first N slots, the partner's N slots empty)."""


TARGET_OPTIONS = ("masks", "boxes", "extras", "ignore_value", "min_visible",
                  "normalized_boxes")


def target_kwargs(name: str, targets: dict) -> dict:
  """The target options of an op's `**targets`, defaults filled; a one-line TypeError
  names any other keyword (a typo such as `mask=` must not be ignored)."""
  unknown = sorted(set(targets) - set(TARGET_OPTIONS))
  if unknown:
    raise TypeError(f"{name}() got unexpected keyword argument(s) {unknown}; its target "
                    f"options are {list(TARGET_OPTIONS)}")
  return {"masks": None, "boxes": None, "extras": (), "ignore_value": 255,
          "min_visible": detection.DEFAULT_MIN_VISIBLE, "normalized_boxes": False, **targets}


def has_targets(targets: dict) -> bool:
  """Whether `targets` (from `target_kwargs`) holds any array to mix with the images."""
  return (targets["masks"] is not None or targets["boxes"] is not None
          or bool(targets["extras"]))


def run_op(key: jax.Array, images: jax.Array, labels: jax.Array, op: mixing.MixOp,
           geometry: Callable[[Any], Geometry], *, mode: str, partner: str, num_shards: int,
           num_classes: Optional[int], label_smoothing, data_format: str,
           method: str = "nearest", axis_name=None, multi_label: bool = False,
           name: str = "op", prob=1.0, **targets) -> tuple:
  """The one call every op makes: `mix_arrays` with validated targets.

  `targets` are the op's target options (`TARGET_OPTIONS`, see `TARGET_ARGS_DOC`).
  Returns (images, labels[, masks][, boxes]) plus the mixed `extras` at the end
  when any are given.
  """
  t = target_kwargs(name, targets)
  _checks.check_bool("multi_label", multi_label)
  masks, boxes, extras = t["masks"], t["boxes"], t["extras"]
  opts = target_options(images, masks, boxes, data_format, t["ignore_value"], t["min_visible"],
                        t["normalized_boxes"], num_classes, method, extras)
  extras = tuple(extras)
  result = mix_arrays(key, images, labels, op, geometry, mode=mode, partner=partner,
                      num_shards=num_shards, num_classes=num_classes,
                      label_smoothing=label_smoothing, masks=masks, boxes=boxes,
                      extras=extras, target_opts=opts, axis_name=axis_name,
                      multi_label=multi_label, prob=prob)
  out = outputs(result, masks, boxes)
  return out + result.extras if extras else out
