"""Label rows: one-hot with timm's label smoothing, soft rows, and their mixing."""

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from jaxmix._src import _checks


def one_hot(labels: jax.Array, num_classes: int, *, smoothing=0.0) -> jax.Array:
  """Integer ids to float32 rows with label smoothing (timm's `one_hot` targets).

  off value = s / K, on value = 1 − s + s / K, so every row sums to 1.
  Ids outside [0, K) raise `ValueError` when the labels are concrete; inside
  `jax.jit` they cannot raise, so their rows are NaN (a loud failure that the
  loss propagates) — use `check_label_ids` under `checkify` for an error.

  Args:
    labels: integer array [B].
    num_classes: K.
    smoothing: s in [0, 1] (float or traced scalar).

  Returns:
    float32 array [B, K].
  """
  num_classes = _checks.static_int("num_classes", num_classes)
  _checks.check_probability("label_smoothing", smoothing)
  labels = jnp.asarray(labels)
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise ValueError(f"labels must be integer ids here, got dtype {labels.dtype}")
  concrete = _checks.concrete_value(labels)
  if concrete is not None and concrete.size and (concrete.min() < 0 or concrete.max() >= num_classes):
    bad = concrete[(concrete < 0) | (concrete >= num_classes)]
    raise ValueError(
        f"labels must be in [0, {num_classes}), got out-of-range ids {bad[:8].tolist()}")
  smoothing = jnp.asarray(smoothing, jnp.float32)
  off = smoothing / num_classes
  on = 1.0 - smoothing + off
  # Compare in int32, not the labels' dtype: uint8 ids against arange(256) would wrap.
  # A uint32 id >= 2**31 becomes negative here, so it is still flagged invalid.
  ids = labels.astype(jnp.int32)
  hot = ids[..., None] == jnp.arange(num_classes, dtype=jnp.int32)
  rows = jnp.where(hot, on, off)
  valid = (ids >= 0) & (ids < num_classes)
  return jnp.where(valid[..., None], rows, jnp.nan)


def label_rows(labels: jax.Array, num_classes: Optional[int] = None, *,
               smoothing=0.0, multi_label: bool = False) -> jax.Array:
  """Integer ids or soft rows to float32 rows that sum to 1, smoothed.

  Args:
    labels: integer ids [B] (needs `num_classes`) or float rows [B, K]
      (one-hot or soft; smoothed as y·(1 − s) + s / K, the same as `one_hot` on
      one-hot rows). With `multi_label`, multi-hot targets [B, K] of any numeric
      or bool dtype.
    num_classes: K; required for ids, checked against rows if given.
    smoothing: s in [0, 1].
    multi_label: timm's `multi_label=True`: every class is its own binary target,
      smoothed towards 1/2 as y·(1 − s) + s / 2 (rows need not sum to 1).

  Returns:
    float32 [B, K].
  """
  labels = jnp.asarray(labels)
  if multi_label:
    return _multi_label_rows(labels, num_classes, smoothing)
  if jnp.issubdtype(labels.dtype, jnp.integer):
    if labels.ndim != 1:
      raise ValueError(f"integer labels must have rank 1 [batch], got shape {labels.shape}")
    if num_classes is None:
      raise ValueError("num_classes is required when labels are integer ids")
    return one_hot(labels, num_classes, smoothing=smoothing)
  if not jnp.issubdtype(labels.dtype, jnp.floating):
    raise ValueError(f"labels must be integer ids or float rows, got dtype {labels.dtype}")
  if labels.ndim != 2:
    raise ValueError(f"label rows must have rank 2 [batch, classes], got shape {labels.shape}")
  if num_classes is not None and labels.shape[1] != num_classes:
    raise ValueError(
        f"label rows have {labels.shape[1]} classes but num_classes={num_classes}")
  _checks.check_probability("label_smoothing", smoothing)
  smoothing = jnp.asarray(smoothing, jnp.float32)
  rows = labels.astype(jnp.float32)
  return rows * (1.0 - smoothing) + smoothing / labels.shape[1]


def _multi_label_rows(labels, num_classes, smoothing):
  """timm `mixup_target(multi_label=True)`: y·(1 − s) + 0.5·s per class."""
  if labels.ndim != 2:
    raise ValueError(f"multi_label targets must have rank 2 [batch, classes] (multi-hot), "
                     f"got shape {labels.shape}")
  if not (jnp.issubdtype(labels.dtype, jnp.number) or labels.dtype == jnp.bool_):
    raise ValueError(f"multi_label targets must be numeric or bool, got dtype {labels.dtype}")
  if num_classes is not None and labels.shape[1] != num_classes:
    raise ValueError(
        f"label rows have {labels.shape[1]} classes but num_classes={num_classes}")
  _checks.check_probability("label_smoothing", smoothing)
  smoothing = jnp.asarray(smoothing, jnp.float32)
  return labels.astype(jnp.float32) * (1.0 - smoothing) + 0.5 * smoothing


def batch_label_rows(images: jax.Array, labels: jax.Array, num_classes: Optional[int],
                     smoothing=0.0, multi_label: bool = False) -> jax.Array:
  """`label_rows` for a batch of images, checking that the batch sizes agree."""
  rows = label_rows(labels, num_classes, smoothing=smoothing, multi_label=multi_label)
  if rows.shape[0] != images.shape[0]:
    raise ValueError(f"images and labels must have the same batch size, got "
                     f"{images.shape[0]} and {rows.shape[0]}")
  return rows


def mix_labels(lam: jax.Array, rows: jax.Array, partner_rows: jax.Array) -> jax.Array:
  """λ·y + (1 − λ)·y_partner, with λ a scalar or one per row."""
  lam = jnp.asarray(lam, jnp.float32)
  return mix_rows((lam, 1.0 - lam), (rows, partner_rows))


def mix_rows(weights, sources) -> jax.Array:
  """Σ_i w_i·y_i over the sources (the image's rows first, then its partners').

  Args:
    weights: one weight per source, each a scalar or one per row ([B]).
    sources: float rows [B, K] of the image and of each partner.
  """
  def expand(w):
    w = jnp.asarray(w, jnp.float32)
    return w.reshape(w.shape + (1,) * (sources[0].ndim - w.ndim))

  out = expand(weights[0]) * sources[0]
  same = True
  for w, rows in zip(weights[1:], sources[1:]):
    out = out + expand(w) * rows
    same = same & (rows == sources[0])
  # A sample mixed with itself (its own partner, or an equal row) keeps its row
  # exactly rather than λ·y + (1 − λ)·y rounded; NaN weights still give NaN.
  weight_sum = sum(expand(w) for w in weights)
  return jnp.where(same & ~jnp.isnan(weight_sum), sources[0], out)


def check_label_ids(labels: jax.Array, num_classes: int) -> None:
  """Asserts ids are in [0, K) under `jax.experimental.checkify` (works inside jit).

  Example::

    def step(key, x, y):
      jaxmix.check_label_ids(y, 10)
      return jaxmix.mix(key, x, y, config)
    err, out = checkify.checkify(jax.jit(step))(key, x, y)
    err.throw()   # raises if an id was out of range
  """
  labels = jnp.asarray(labels)
  checkify.check(jnp.all((labels >= 0) & (labels < num_classes)),
                 f"labels must be in [0, {num_classes})")
