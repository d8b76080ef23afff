"""Argument validation shared by the ops (trace-time checks, clear messages)."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

MODES = ("batch", "pair", "elem")
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
  if v is not None and not np.all(v > 0):
    raise ValueError(f"{name} must be > 0, got {v.tolist()}")


def check_non_negative(name: str, value: Any) -> None:
  v = concrete_value(value)
  if v is not None and not np.all(v >= 0):
    raise ValueError(f"{name} must be >= 0, got {v.tolist()}")


def check_probability(name: str, value: Any) -> None:
  v = concrete_value(value)
  if v is not None and not np.all((v >= 0) & (v <= 1)):
    raise ValueError(f"{name} must be in [0, 1], got {v.tolist()}")


def check_choice(name: str, value: str, choices) -> None:
  if value not in choices:
    raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def check_minmax(minmax) -> None:
  if minmax is None:
    return
  if len(minmax) != 2:
    raise ValueError(f"minmax must be a pair (lo, hi), got {minmax!r}")
  lo, hi = (concrete_value(m) for m in minmax)
  if lo is not None and hi is not None and not (0 < lo <= hi <= 1):
    raise ValueError(f"minmax must satisfy 0 < lo <= hi <= 1, got {minmax!r}")


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
