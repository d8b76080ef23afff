"""Granularity of the draws: per batch, host, device (shard) or sample, and timm's pair mode.

A sampler is written once for one sample, `draw(words) -> pytree of scalars`, from
`num_words` uint32 words; each mode says which row of `sampling.random_words` each
sample reads, and all rows are hashed in one pass:
- "batch": row 0, shared by every sample (scalars);
- "host": row h for the samples of host h (`jax.process_count()` contiguous groups);
- "device": row s for the samples of shard s (`num_shards` contiguous groups, or
  the index along `axis_name` inside `shard_map`);
- "elem" (alias "sample"): row i for sample i;
- "pair": timm's pair mode; sample i and its flip partner both read the row of the
  one with the lower index (in its shard). In an odd shard the middle sample is its
  own partner.

Every row derives from the one key, which is the same on every device, so no mode
needs a collective: a device hashes the rows of its own samples. Inside `shard_map`
(`axis_name` given) the images are the local shard and the draws equal those of
the global computation with `num_shards` = the axis size.
"""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import pairing
from jaxmix._src import sampling


def num_groups(mode: str, batch_size: int, num_shards: int) -> int:
  """How many contiguous groups of the (global) batch draw separately in `mode`."""
  if mode == "host":
    groups = jax.process_count()
  elif mode == "device":
    groups = _checks.static_int("num_shards", num_shards)
  else:
    return batch_size
  if batch_size % groups:
    raise ValueError(f"mode={mode!r} needs a batch size divisible by its {groups} groups, "
                     f"got batch size {batch_size}")
  return groups


def _repeat_groups(params, groups: int, batch_size: int):
  # A broadcast and a reshape (not jnp.repeat, whose gather XLA partitions with an
  # all-gather): each device then materializes only its own group's values.
  def repeat(leaf):
    grouped = jnp.broadcast_to(leaf[:, None], (groups, batch_size // groups) + leaf.shape[1:])
    return grouped.reshape((batch_size,) + leaf.shape[1:])
  return jax.tree.map(repeat, params)


def _pair_rows(num_shards: int, local: int, first: Any = 0) -> jax.Array:
  """Row of each sample in pair mode: the lower index of it and its flip partner."""
  j = jnp.arange(local, dtype=jnp.int32)
  within = jnp.minimum(j, local - 1 - j)
  starts = first + jnp.arange(num_shards, dtype=jnp.int32)[:, None] * local
  return (starts + within[None, :]).reshape(num_shards * local)


def draw_params(key: jax.Array, draw: Callable[[jax.Array], Any], num_words: int, mode: str,
                batch_size: int, num_shards: int = 1, axis_name: Optional[Any] = None) -> Any:
  """Draws mixing parameters for a batch according to `mode`, in one hash pass.

  Args:
    key: PRNG key (the same on every device).
    draw: single-sample sampler, `words -> pytree of scalar arrays`, given the
      uint32 words [num_words] of its row (see the module docstring).
    num_words: how many words `draw` reads (static).
    mode: "batch", "host", "device", "elem" (or "sample") or "pair".
    batch_size: B, the size of the batch this call sees (the local shard when
      `axis_name` is given).
    num_shards: the number of contiguous groups (devices) partners stay within;
      the groups of "device" mode and pair mode.
    axis_name: inside `shard_map`, the mapped batch axis (name or tuple of names);
      replaces `num_shards`.

  Returns:
    The pytree of `draw`, with scalars in batch mode and `[B]` leaves otherwise.
  """
  _checks.check_choice("mode", mode, _checks.MODES)
  if mode == "sample":
    mode = "elem"
  if mode == "batch":
    return draw(sampling.random_words(key, 1, num_words)[0])
  if axis_name is not None:
    return _draw_in_shard_map(key, draw, num_words, mode, batch_size, axis_name)
  draw_rows = lambda rows: jax.vmap(draw)(sampling.random_words(key, rows, num_words))
  if mode in ("host", "device"):
    groups = num_groups(mode, batch_size, num_shards)
    return _repeat_groups(draw_rows(groups), groups, batch_size)
  if mode == "elem":
    return draw_rows(batch_size)
  num_shards = _checks.static_int("num_shards", num_shards)
  if batch_size % num_shards:
    raise ValueError(f"batch size {batch_size} must be divisible by num_shards={num_shards}")
  return draw_rows(_pair_rows(num_shards, batch_size // num_shards))


def _draw_in_shard_map(key, draw, num_words: int, mode: str, local: int, axis_name):
  index, size = pairing.axis_index_and_size(axis_name)
  draw_rows = lambda rows: jax.vmap(draw)(sampling.random_words(key, rows, num_words))
  if mode == "host":
    # Hosts hold contiguous blocks of devices, so a device's host is its block.
    hosts = jax.process_count()
    if size % hosts:
      raise ValueError(f"mode='host' needs the {size} devices of axis {axis_name!r} to "
                       f"divide among {hosts} hosts")
    return _broadcast(draw_rows(jnp.reshape(index // (size // hosts), (1,))), local)
  if mode == "device":
    return _broadcast(draw_rows(jnp.reshape(index, (1,))), local)
  if mode == "elem":
    return draw_rows(index * local + jnp.arange(local, dtype=jnp.int32))
  return draw_rows(_pair_rows(1, local, index * local))


def _broadcast(params, local: int):
  return jax.tree.map(lambda leaf: jnp.broadcast_to(leaf[0], (local,) + jnp.shape(leaf)[1:]),
                      params)


def check_pair_partner(mode: str, partner: str) -> None:
  if mode == "pair" and partner != "flip":
    raise ValueError(
        f"pair mode mixes i with its flip partner (timm); partner must be 'flip', got {partner!r}")
