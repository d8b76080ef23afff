"""Granularity of the draws: per batch, host, device (shard) or sample, and timm's pair mode.

A sampler is written once for one sample, `draw(key) -> pytree of scalars`, and
each mode turns it into the parameters of a whole batch:
- "batch": one draw shared by every sample (scalars);
- "host": one draw per host (`jax.process_count()` contiguous groups of the batch);
- "device": one draw per shard (`num_shards` contiguous groups, or one per member
  of `axis_name` inside `shard_map`);
- "elem" (alias "sample"): one draw per sample, a `vmap` over `split(key, B)`;
- "pair": timm's pair mode; like elem, but sample i and its flip partner share
  the draw of the one with the lower index in its shard. In an odd shard the
  middle sample is its own partner.

Every draw derives from the one key, which is the same on every device, so no
mode needs a collective: a device computes the (few) group draws, or the B sample
keys, and keeps its own. Inside `shard_map` (`axis_name` given) the images are
the local shard and the draws equal those of the global computation with
`num_shards` = the axis size.
"""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import pairing


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


def _symmetrize(params, num_shards: int, local: int):
  first_of_pair = jnp.arange(local) < (local - 1 - jnp.arange(local))

  def symmetrize(leaf):
    grouped = leaf.reshape((num_shards, local) + leaf.shape[1:])
    first = first_of_pair.reshape((1, local) + (1,) * (leaf.ndim - 1))
    return jnp.where(first, grouped, jnp.flip(grouped, axis=1)).reshape(leaf.shape)

  return jax.tree.map(symmetrize, params)


def draw_params(key: jax.Array, draw: Callable[[jax.Array], Any], mode: str,
                batch_size: int, num_shards: int = 1, axis_name: Optional[Any] = None) -> Any:
  """Draws mixing parameters for a batch according to `mode`.

  Args:
    key: PRNG key (the same on every device).
    draw: single-sample sampler, `key -> pytree of scalar arrays`.
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
    return draw(key)
  if axis_name is not None:
    return _draw_in_shard_map(key, draw, mode, batch_size, axis_name)
  if mode in ("host", "device"):
    groups = num_groups(mode, batch_size, num_shards)
    return _repeat_groups(jax.vmap(draw)(jax.random.split(key, groups)), groups, batch_size)
  params = jax.vmap(draw)(jax.random.split(key, batch_size))
  if mode == "elem":
    return params
  num_shards = _checks.static_int("num_shards", num_shards)
  if batch_size % num_shards:
    raise ValueError(f"batch size {batch_size} must be divisible by num_shards={num_shards}")
  return _symmetrize(params, num_shards, batch_size // num_shards)


def _draw_in_shard_map(key, draw, mode: str, local: int, axis_name):
  index, size = pairing.axis_index_and_size(axis_name)
  if mode == "host":
    # Hosts hold contiguous blocks of devices, so a device's host is its block.
    hosts = jax.process_count()
    if size % hosts:
      raise ValueError(f"mode='host' needs the {size} devices of axis {axis_name!r} to "
                       f"divide among {hosts} hosts")
    host_key = jax.random.split(key, hosts)[index // (size // hosts)]
    return _broadcast(draw(host_key), local)
  if mode == "device":
    return _broadcast(draw(jax.random.split(key, size)[index]), local)
  keys = jax.random.split(key, size * local)
  params = jax.vmap(draw)(jax.lax.dynamic_slice_in_dim(keys, index * local, local))
  return params if mode == "elem" else _symmetrize(params, 1, local)


def _broadcast(params, local: int):
  return jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (local,) + jnp.shape(leaf)), params)


def check_pair_partner(mode: str, partner: str) -> None:
  if mode == "pair" and partner != "flip":
    raise ValueError(
        f"pair mode mixes i with its flip partner (timm); partner must be 'flip', got {partner!r}")
