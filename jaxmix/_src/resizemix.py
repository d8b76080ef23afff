"""ResizeMix (Qin et al. 2020): the whole partner, shrunk into a box of the image.

CutMix's box may hold only background of the partner while the label still
credits the partner's class; ResizeMix pastes the entire partner, resized, so
the partner's object is in the patch and the label weight (the patch's area)
is true. The box side is a fraction τ ~ U(scale) of the image side, centred
uniformly and clipped as CutMix's box; the partner is resized to the clipped
box, as openmixup's and mmpretrain's `ResizeMix`.
"""

import chex
import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import boxes

METHODS = ("nearest", "bilinear")


def check_scale(scale) -> tuple:
  if len(scale) != 2:
    raise ValueError(f"scale must be a pair (lo, hi), got {scale!r}")
  lo, hi = (_checks.concrete_value(s) for s in scale)
  if lo is not None and hi is not None and not 0 < lo <= hi <= 1:
    raise ValueError(f"scale must satisfy 0 < lo <= hi <= 1, got {tuple(scale)!r}")
  return tuple(scale)


def box_from_scale(tau: jax.Array, cy: jax.Array, cx: jax.Array, height: int,
                   width: int) -> boxes.Box:
  """The box of side ⌊H·τ⌋ × ⌊W·τ⌋ centred at (cy, cx), clipped (openmixup `rand_bbox_tao`)."""
  tau = jnp.asarray(tau, jnp.float32)
  cut_h = jnp.floor(height * tau).astype(jnp.int32)
  cut_w = jnp.floor(width * tau).astype(jnp.int32)
  return boxes.Box(*(c.astype(jnp.int32) for c in (
      jnp.clip(cy - cut_h // 2, 0, height), jnp.clip(cy + cut_h // 2, 0, height),
      jnp.clip(cx - cut_w // 2, 0, width), jnp.clip(cx + cut_w // 2, 0, width))))


def sample_box(key: chex.PRNGKey, height: int, width: int,
               scale: tuple = (0.1, 0.8)) -> tuple[boxes.Box, jax.Array]:
  """Draws τ ~ U(scale) and a uniform centre; returns (box, τ)."""
  scale = check_scale(scale)
  key_tau, key_centre = jax.random.split(key)
  tau = jax.random.uniform(key_tau, (), jnp.float32, minval=scale[0], maxval=scale[1])
  cy, cx = boxes.sample_centre(key_centre, height, width)
  return box_from_scale(tau, cy, cx, height, width), tau


def _source_coords(out_size: int, start: jax.Array, stop: jax.Array, in_size: int,
                   method: str):
  """For each output row (or column): source index, next index and weight of the next.

  Rows outside [start, stop) get valid but unused indices.
  """
  length = jnp.maximum(stop - start, 1)
  dst = jnp.arange(out_size, dtype=jnp.int32) - start
  if method == "nearest":
    # PyTorch's `interpolate(mode="nearest")`: ⌊dst · in / out⌋, here in exact integers.
    src = jnp.clip((dst * in_size) // length, 0, in_size - 1)
    return src, src, jnp.zeros((out_size,), jnp.float32)
  # Bilinear with half-pixel centres (PyTorch's align_corners=False, no antialias).
  pos = jnp.maximum((dst.astype(jnp.float32) + 0.5) * (in_size / length.astype(jnp.float32))
                    - 0.5, 0.0)
  low = jnp.clip(jnp.floor(pos).astype(jnp.int32), 0, in_size - 1)
  high = jnp.minimum(low + 1, in_size - 1)
  return low, high, pos - low.astype(jnp.float32)


def resize_into_box(image: jax.Array, partner: jax.Array, box: boxes.Box, *,
                    method: str = "nearest", axes: tuple[int, int] = (0, 1)) -> jax.Array:
  """Pastes the whole `partner`, resized to the box, into `box` of `image` (one sample).

  Args:
    image, partner: same shape and dtype, spatial axes at `axes` (any other
      axes, e.g. channels or per-pixel class rows, are carried along).
    box: one `Box` of int32 scalars.
    method: "nearest" (exact pixel copies; integer maps stay valid) or
      "bilinear" (computed in float32; integer dtypes rounded half to even and
      clipped, as `jaxmix.blend`).
    axes: (height axis, width axis) of `image`.

  Returns:
    Array like `image`.
  """
  _checks.check_choice("method", method, METHODS)
  ay, ax = axes
  height, width = image.shape[ay], image.shape[ax]
  y0, y1, wy = _source_coords(height, box.y1, box.y2, partner.shape[ay], method)
  x0, x1, wx = _source_coords(width, box.x1, box.x2, partner.shape[ax], method)
  if method == "nearest":
    resized = jnp.take(jnp.take(partner, y0, axis=ay), x0, axis=ax)
  else:
    def expand(w, axis):
      return w.reshape(tuple(-1 if a == axis else 1 for a in range(image.ndim)))
    src = partner.astype(jnp.float32)
    rows = (jnp.take(src, y0, axis=ay) * (1.0 - expand(wy, ay))
            + jnp.take(src, y1, axis=ay) * expand(wy, ay))
    resized = (jnp.take(rows, x0, axis=ax) * (1.0 - expand(wx, ax))
               + jnp.take(rows, x1, axis=ax) * expand(wx, ax))
    if jnp.issubdtype(image.dtype, jnp.integer):
      info = jnp.iinfo(image.dtype)
      resized = jnp.clip(jnp.round(resized), info.min, info.max)
    resized = resized.astype(image.dtype)
  inside = boxes.box_mask(box, height, width)
  inside = inside.reshape(tuple(s if a in axes else 1 for a, s in enumerate(image.shape)))
  return jnp.where(inside, resized, image)


def resize_into_boxes(images: jax.Array, partners: jax.Array, box: boxes.Box, *,
                      method: str = "nearest", axes: tuple[int, int] = (1, 2)) -> jax.Array:
  """`resize_into_box` over a batch: `box` of scalars (one for all) or of [B] arrays."""
  per_sample = jnp.ndim(box.y1) == 1
  one = lambda x, p, b: resize_into_box(x, p, b, method=method, axes=(axes[0] - 1, axes[1] - 1))
  return jax.vmap(one, in_axes=(0, 0, 0 if per_sample else None))(images, partners, box)
