"""Per-pixel (dense) targets: segmentation maps mixed exactly as their images.

Two kinds of dense targets:
- integer label maps [B, H, W] (any integer dtype), with an `ignore_value`
  for pixels that carry no label;
- soft per-pixel rows, float [B, H, W, K] (or [B, K, H, W] with
  `data_format="NCHW"`, like the images).

Hard masks (CutMix, Cutout, ResizeMix, SaliencyMix, FMix without soft edges)
copy target pixels exactly where they copy image pixels, so integer maps stay
integer maps. Blends (Mixup, soft FMix edges) cannot be written as one class per
pixel: integer maps are then turned into one-hot rows (`num_classes` needed,
ignored pixels become all-zero rows) and blended with the image's weights.
"""

from typing import Optional

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import _layout


def check_dense(targets: jax.Array, images: jax.Array, data_format: str = "NHWC") -> None:
  """Checks that `targets` is an integer map or soft rows matching `images` pixel for pixel."""
  axis_h, axis_w = _checks.spatial_axes(data_format, images.ndim)
  size = (images.shape[0], images.shape[axis_h], images.shape[axis_w])
  if not hasattr(targets, "dtype"):
    raise TypeError(f"masks must be an array [batch, height, width] (integer) or soft rows, "
                    f"got {type(targets).__name__}")
  dtype = jnp.dtype(targets.dtype)
  if jnp.issubdtype(dtype, jnp.integer):
    if targets.shape != size:
      raise ValueError(f"masks: integer dense targets must have shape [batch, height, width] = "
                       f"{list(size)}, got {list(targets.shape)}")
    return
  if not jnp.issubdtype(dtype, jnp.floating):
    raise ValueError(f"masks must be integer maps or float rows, got dtype {dtype}")
  t_axes = _checks.spatial_axes(data_format, targets.ndim) if targets.ndim == 4 else None
  if (targets.ndim != 4 or targets.shape[0] != size[0]
      or (targets.shape[t_axes[0]], targets.shape[t_axes[1]]) != size[1:]):
    layout = "[batch, height, width, classes]" if data_format == "NHWC" else \
        "[batch, classes, height, width]"
    raise ValueError(f"masks: soft dense targets must have shape {layout} with batch, height, width "
                     f"{list(size)}, got {list(targets.shape)}")


def is_integer(targets: jax.Array) -> bool:
  return jnp.issubdtype(jnp.dtype(targets.dtype), jnp.integer)


def one_hot_map(targets: jax.Array, num_classes: int, *, ignore_value: Optional[int] = None,
                data_format: str = "NHWC") -> jax.Array:
  """Integer map [B, H, W] → float32 rows [B, H, W, K] (or NCHW); ignored pixels → zeros.

  Ids outside [0, K) that are not `ignore_value` also give zero rows (nothing
  to credit), the way a segmentation loss skips them.
  """
  if not isinstance(num_classes, int) or num_classes < 1:
    raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
  rows = jax.nn.one_hot(targets, num_classes, dtype=jnp.float32)
  if ignore_value is not None:
    rows = jnp.where((targets == ignore_value)[..., None], 0.0, rows)
  return rows if data_format == "NHWC" else jnp.moveaxis(rows, -1, -3)


def _expand(weight: jax.Array, targets: jax.Array, data_format: str) -> jax.Array:
  """A [..., H, W] pixel weight or a scalar / [B] weight → broadcastable against `targets`."""
  weight = jnp.asarray(weight)
  if weight.ndim >= 2:  # [.., H, W]: a per-pixel mask
    if targets.ndim == 3:
      return weight
    return weight[..., None] if data_format == "NHWC" else weight[..., None, :, :]
  return weight.reshape(weight.shape + (1,) * (targets.ndim - weight.ndim))


def paste_dense(targets: jax.Array, partner_targets: jax.Array, partner_mask: jax.Array,
                data_format: str = "NHWC") -> jax.Array:
  """Copies partner target pixels where the boolean `partner_mask` [B or 1, H, W] is True."""
  mask = _layout.match_batch_sharding(_expand(partner_mask, targets, data_format), targets)
  return jnp.where(mask, partner_targets, targets)


def blend_dense(targets: jax.Array, partner_targets: jax.Array, partner_weight: jax.Array, *,
                num_classes: Optional[int] = None, ignore_value: Optional[int] = None,
                data_format: str = "NHWC") -> jax.Array:
  """(1 − w)·t + w·t_partner per pixel; integer maps become one-hot rows first.

  Args:
    targets, partner_targets: integer maps [B, H, W] or soft rows.
    partner_weight: the partner's weight, a scalar, [B] (Mixup) or [B, H, W]
      (a soft mask).
    num_classes: K, required for integer maps.
    ignore_value: id of unlabelled pixels in integer maps (their rows are 0).

  Returns:
    float32 soft rows [B, H, W, K] (or [B, K, H, W]).
  """
  targets, partner_targets = (soft_rows(t, num_classes=num_classes, ignore_value=ignore_value,
                                        data_format=data_format)
                              for t in (targets, partner_targets))
  w = _expand(jnp.asarray(partner_weight, jnp.float32), targets, data_format)
  return (1.0 - w) * targets + w * partner_targets


def soft_rows(targets: jax.Array, *, num_classes: Optional[int] = None,
              ignore_value: Optional[int] = None, data_format: str = "NHWC") -> jax.Array:
  """Dense targets in the form a blend returns: float32 rows (integer maps one-hot first)."""
  if is_integer(targets):
    if num_classes is None:
      raise ValueError("num_classes is required to blend integer dense targets "
                       "(a blend gives each pixel soft rows over the classes)")
    return one_hot_map(targets, num_classes, ignore_value=ignore_value, data_format=data_format)
  return targets.astype(jnp.float32)


def erase_dense(targets: jax.Array, erase_mask: jax.Array, *, ignore_value: int = 255,
                data_format: str = "NHWC") -> jax.Array:
  """Cutout on targets: erased pixels get `ignore_value` (integer maps) or zero rows (soft).

  The erased pixels show no object, so they carry no label; a loss that skips
  `ignore_value` (or zero-weight rows) then trains on the visible pixels only.
  """
  mask = _expand(erase_mask, targets, data_format)
  if is_integer(targets):
    info = jnp.iinfo(targets.dtype)
    if not info.min <= ignore_value <= info.max:
      raise ValueError(f"ignore_value {ignore_value} does not fit dense targets of dtype "
                       f"{targets.dtype}")
    return jnp.where(mask, jnp.asarray(ignore_value, targets.dtype), targets)
  return jnp.where(mask, jnp.zeros((), targets.dtype), targets)
