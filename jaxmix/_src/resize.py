"""Resizing a whole image into a box of another: the paste of ResizeMix, for images and targets.

Nearest and bilinear sampling are written as index maps over the full output
size, so a box whose size is traced (drawn inside `jit`) needs no dynamic shape.
"""

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import _layout
from jaxmix._src import boxes

METHODS = ("nearest", "bilinear")


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
  if per_sample:
    box = jax.tree.map(lambda c: _layout.match_batch_sharding(c, images), box)
  return jax.vmap(one, in_axes=(0, 0, 0 if per_sample else None))(images, partners, box)
