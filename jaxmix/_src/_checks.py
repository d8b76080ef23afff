"""Argument validation shared by the ops (trace-time checks, clear messages)."""

from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

# Granularity of the draws: one per batch, per host, per device (shard), per sample
# ("elem", or its alias "sample"), or timm's pair mode.
MODES = ("batch", "host", "device", "elem", "sample", "pair")
BOX_CONVENTIONS = ("official", "timm")
PARTNERS = ("flip", "roll", "permute")
DATA_FORMATS = ("NHWC", "NCHW")


def is_concrete(x: Any) -> bool:
  """True when `x` holds values known at trace time (not a jit tracer)."""
  return not isinstance(x, jax.core.Tracer)


def concrete_value(x: Any):
  """The NumPy value of `x` if it is a number or array known now, else None."""
  if not isinstance(x, (int, float, np.ndarray, np.generic, jax.Array)) or not is_concrete(x):
    return None
  return np.asarray(x)


def check_positive(name: str, value: Any) -> None:
  v = concrete_value(value)
  if v is not None and not np.all((v > 0) & np.isfinite(v)):
    raise ValueError(f"{name} must be > 0 and finite, got {v.tolist()}")


def check_non_negative(name: str, value: Any) -> None:
  v = concrete_value(value)
  if v is not None and not np.all((v >= 0) & np.isfinite(v)):
    raise ValueError(f"{name} must be >= 0 and finite, got {v.tolist()}")


def static_int(name: str, value: Any, minimum: int = 1) -> int:
  """`value` as a Python int >= minimum; NumPy integers are accepted.

  Sizes that shape the output (num_classes, size, num_shards) must be known at
  trace time; a traced value gets a message that says how to make it static.
  """
  if isinstance(value, jax.core.Tracer):
    raise TypeError(
        f"{name} must be a static Python int, got a traced value; under jax.jit pass it "
        f"as a static argument (static_argnames=('{name}',)) or bind it with "
        f"functools.partial")
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
    raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
  if value < minimum:
    raise ValueError(f"{name} must be an int >= {minimum}, got {int(value)}")
  return int(value)


def check_probability(name: str, value: Any) -> None:
  v = concrete_value(value)
  if v is not None and not np.all((v >= 0) & (v <= 1)):
    raise ValueError(f"{name} must be in [0, 1], got {v.tolist()}")


def check_choice(name: str, value: str, choices) -> None:
  if value not in choices:
    raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_minmax(minmax) -> Optional[tuple[float, float]]:
  """`minmax` as a pair of Python floats (or None).

  The box sides are ⌊H·lo⌋ and ⌊H·hi⌋ in float64, as timm computes them; a traced
  (float32) value would round differently, so minmax must be concrete.
  """
  if minmax is None:
    return None
  if len(minmax) != 2:
    raise ValueError(f"minmax must be a pair (lo, hi), got {minmax!r}")
  if any(isinstance(m, jax.core.Tracer) for m in minmax):
    raise TypeError("minmax must be concrete numbers (its box sides are computed in float64 "
                    "as timm does); under jax.jit pass it as a static argument")
  lo, hi = (float(np.asarray(m)) for m in minmax)
  if not (0 < lo <= hi <= 1):
    raise ValueError(f"minmax must satisfy 0 < lo <= hi <= 1, got {minmax!r}")
  return lo, hi


def check_images(images: jax.Array, rank: int = 4, name: str = "images") -> None:
  if not hasattr(images, "ndim") or images.ndim != rank:
    shape = getattr(images, "shape", None)
    raise ValueError(
        f"{name} must have rank {rank} "
        f"({'[batch, height, width, channels]' if rank == 4 else '[height, width, channels]'}"
        f" for NHWC), got shape {shape}")
  dtype = jnp.dtype(images.dtype)
  if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
    raise ValueError(f"{name} must have an integer or floating dtype, got {dtype}")
  if any(d == 0 for d in images.shape):
    raise ValueError(f"{name} must not have an empty dimension, got shape {images.shape}")


def spatial_axes(data_format: str, rank: int = 4) -> tuple[int, int]:
  """Axes of height and width for the given layout."""
  check_choice("data_format", data_format, DATA_FORMATS)
  offset = rank - 3
  return (offset + 0, offset + 1) if data_format == "NHWC" else (offset + 1, offset + 2)


def check_finite(name: str, value: Any) -> None:
  v = concrete_value(value)
  if v is not None and not np.all(np.isfinite(v)):
    raise ValueError(f"{name} must be finite, got {v.tolist()}")


def check_bool(name: str, value: Any) -> None:
  """A flag that selects code at trace time must be a Python (or NumPy) bool."""
  if not isinstance(value, (bool, np.bool_)):
    raise TypeError(f"{name} must be a bool (True or False), got {value!r}")


def check_int(name: str, value: Any) -> int:
  """Any Python or NumPy integer (negative allowed), e.g. an id such as `ignore_value`."""
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
    raise TypeError(f"{name} must be an int, got {value!r}")
  return int(value)


def check_pair(name: str, value: Any) -> tuple:
  """`value` as a (lo, hi) pair: a tuple, list or array of exactly two numbers."""
  is_sequence = isinstance(value, (tuple, list)) or (
      isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 1)
  if not is_sequence or len(value) != 2:
    raise ValueError(f"{name} must be a pair (lo, hi), got {value!r}")
  return tuple(value)


def check_range(name: str, value: Any, *, high: Optional[float] = None) -> tuple:
  """A pair with 0 < lo <= hi (<= high), finite; checked where the numbers are concrete."""
  lo, hi = check_pair(name, value)
  clo, chi = concrete_value(lo), concrete_value(hi)
  if clo is not None and chi is not None:
    clo, chi = float(clo), float(chi)
    bound = np.inf if high is None else high
    if not (np.isfinite(clo) and np.isfinite(chi) and 0 < clo <= chi <= bound):
      upper = "" if high is None else f" <= {high}"
      raise ValueError(f"{name} must satisfy 0 < lo <= hi{upper} (finite), got {value!r}")
  return lo, hi


def check_sorted(name: str, values: Sequence) -> None:
  """Concrete `values` must be finite and non-decreasing."""
  concrete = [concrete_value(v) for v in values]
  if any(v is None for v in concrete):
    return
  flat = np.asarray([float(v) for v in concrete])
  if not np.all(np.isfinite(flat)) or np.any(np.diff(flat) < 0):
    raise ValueError(f"{name} must be finite and sorted in increasing order, got "
                     f"{flat.tolist()}")


def check_extras(extras: Any, images: jax.Array, data_format: str) -> tuple:
  """`extras` as a tuple of arrays laid out like `images`: same rank, batch, height and
  width (the channels may differ: a depth map next to RGB images)."""
  if not isinstance(extras, (tuple, list)):
    raise TypeError(f"extras must be a tuple of arrays laid out like images, got "
                    f"{type(extras).__name__}")
  axis_h, axis_w = spatial_axes(data_format, images.ndim)
  want = (images.shape[0], images.shape[axis_h], images.shape[axis_w])
  for i, x in enumerate(extras):
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != images.ndim or (shape[0], shape[axis_h], shape[axis_w]) != want:
      raise ValueError(f"extras[{i}] must have rank {images.ndim} and batch, height, width "
                       f"{list(want)} like images ({data_format}), got shape {list(shape)}")
    dtype = jnp.dtype(x.dtype)
    if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
      raise ValueError(f"extras[{i}] must have an integer or floating dtype, got {dtype}")
  return tuple(extras)
