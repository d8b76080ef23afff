"""Broadcasting per-sample values and H×W masks against NHWC / NCHW images."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxmix._src import _checks


def image_size(images: jax.Array, data_format: str) -> tuple[int, int]:
  axis_h, axis_w = _checks.spatial_axes(data_format, images.ndim)
  return images.shape[axis_h], images.shape[axis_w]


# Soft mask weights within this of 0 or 1 are snapped to it. XLA fuses a mask's arithmetic
# differently under jit and eagerly (a division as a reciprocal and a product, an FMA), which
# can leave ~1e-9 where the formula gives 0 or 1; boxes count any weight > 0 as showing, so
# such a residue moved a box edge by a pixel between jit and eager. 1e-6 is 8 float32 ulps
# below 1: no image dtype resolves a weight that small (a float32 pixel moves by < 1e-6 of
# the difference to its partner).
SNAP = 1e-6


def snap_weights(weights: jax.Array) -> jax.Array:
  """Float32 mask weights with those below `SNAP` set to 0 and those above 1 − SNAP to 1."""
  w = jnp.asarray(weights, jnp.float32)
  return jnp.where(w < SNAP, 0.0, jnp.where(w > 1.0 - SNAP, 1.0, w))


def expand_mask(mask: jax.Array, data_format: str) -> jax.Array:
  """[..., H, W] mask → broadcastable against images in `data_format`."""
  return mask[..., None] if data_format == "NHWC" else mask[..., None, :, :]


def expand_per_sample(values: jax.Array, ndim: int) -> jax.Array:
  """Scalar or [B] values → broadcastable against rank-`ndim` images."""
  values = jnp.asarray(values)
  return values.reshape(values.shape + (1,) * (ndim - values.ndim))


def expand_fill(fill, dtype, data_format: str, channels: int) -> jax.Array:
  """Scalar or per-channel fill → array of `dtype` broadcastable against images."""
  fill = jnp.asarray(fill)
  if fill.ndim > 1 or (fill.ndim == 1 and fill.shape[0] != channels):
    raise ValueError(f"fill must be a scalar or have {channels} values (one per channel), "
                     f"got shape {fill.shape}")
  value = _checks.concrete_value(fill)
  if value is not None:
    # A fill the dtype cannot hold would be written as something else (NaN → 0 in
    # uint8, 1e5 → inf in float16): refuse it rather than write a surprise.
    value = value.astype(np.float64)
    info = jnp.iinfo(dtype) if jnp.issubdtype(dtype, jnp.integer) else jnp.finfo(dtype)
    if (not np.isfinite(value).all() or value.min() < float(info.min)
        or value.max() > float(info.max)):
      raise ValueError(f"fill {value.tolist()} is out of range for images of dtype {dtype}")
  fill = fill.astype(dtype)
  if fill.ndim == 1 and data_format == "NCHW":
    fill = fill[:, None, None]
  return fill


def match_batch_sharding(x: jax.Array, like: jax.Array) -> jax.Array:
  """`x` with the batch-axis sharding of `like` under an Explicit-axes mesh (else `x` as is).

  With Explicit axes JAX refuses a select or a vmap whose operands are sharded differently; the
  per-sample masks and boxes come from the replicated key, so they are replicated while the batch
  is sharded on its first axis. Only arrays with the same batch size as `like` are resharded.
  """
  typeof, axis_type = getattr(jax, "typeof", None), getattr(jax.sharding, "AxisType", None)
  if typeof is None or axis_type is None:   # JAX before explicit sharding.
    return x
  sharding = getattr(typeof(like), "sharding", None)
  axis_types = getattr(getattr(sharding, "mesh", None), "axis_types", ()) or ()
  if (sharding is None or x.ndim == 0 or x.shape[0] != like.shape[0]
      or not any(t == axis_type.Explicit for t in axis_types)):
    return x
  batch_spec = tuple(sharding.spec)[0] if len(tuple(sharding.spec)) else None
  spec = jax.sharding.PartitionSpec(batch_spec, *([None] * (x.ndim - 1)))
  return jax.sharding.reshard(x, spec)
