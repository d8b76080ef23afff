"""Who mixes with whom: flip (timm), roll (torchvision, big_vision), permute (official CutMix).

With `num_shards = S > 1` the batch is seen as S contiguous groups of B / S (one
per device when the batch is sharded over S devices) and every partner is chosen
inside its own group. Partners are then gathered with a reshape to
`[S, B / S, ...]` and an op along the second axis, which XLA partitions without
any cross-device communication.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxmix._src import _checks


def _check(batch_size: int, partner: str, num_shards: int) -> int:
  _checks.check_choice("partner", partner, _checks.PARTNERS)
  num_shards = _checks.static_int("num_shards", num_shards)
  if batch_size % num_shards:
    raise ValueError(
        f"batch size {batch_size} must be divisible by num_shards={num_shards}")
  return batch_size // num_shards


def _local_permutations(key: jax.Array, num_shards: int, local: int) -> jax.Array:
  keys = jax.random.split(key, num_shards)
  return jax.vmap(lambda k: jax.random.permutation(k, local))(keys).astype(jnp.int32)


def partner_index(key: jax.Array, batch_size: int, partner: str = "flip",
                  num_shards: int = 1) -> jax.Array:
  """Index of each sample's partner in the batch.

  Args:
    key: PRNG key (used by "permute" only).
    batch_size: B.
    partner: "flip" (i ↔ B−1−i, timm), "roll" (i takes i−1, torchvision's
      `roll(1, 0)`), or "permute" (a uniform random permutation, official CutMix).
    num_shards: choose partners within each of this many contiguous groups.

  Returns:
    int32 array [B]; `x[partner_index(...)]` equals `gather_partners(x, ...)`.
  """
  local = _check(batch_size, partner, num_shards)
  offsets = (jnp.arange(num_shards, dtype=jnp.int32) * local)[:, None]
  positions = jnp.arange(local, dtype=jnp.int32)[None, :]
  if partner == "flip":
    idx = local - 1 - positions
  elif partner == "roll":
    idx = (positions - 1) % local
  else:
    idx = _local_permutations(key, num_shards, local)
  return jnp.broadcast_to(idx + offsets, (num_shards, local)).reshape(batch_size)


def gather_partners(x: jax.Array, key: jax.Array, partner: str = "flip",
                    num_shards: int = 1, *, shift: int = 1, axis_name=None) -> jax.Array:
  """Returns each sample's partner: `x[partner_index(key, len(x), partner, num_shards)]`.

  Call it with the same key for images and labels so both get the same pairing.

  Args:
    x: [B, ...] array.
    key: PRNG key (used by "permute" only).
    partner: "flip", "roll" or "permute".
    num_shards: choose partners within this many contiguous groups.
    shift: with "roll", sample i takes i − shift (n-way Mixup's k-th partner).
    axis_name: inside `shard_map`, the mapped batch axis; `x` is then the local
      shard and partners stay inside it (as `num_shards` = axis size would).
  """
  batch_size = x.shape[0]
  if axis_name is not None:
    _check(batch_size, partner, 1)
    if partner == "permute":
      index, size = axis_index_and_size(axis_name)
      perm = jax.random.permutation(jax.random.split(key, size)[index], batch_size)
      return jnp.take(x, perm.astype(jnp.int32), axis=0)
    return gather_partners(x, key, partner, 1, shift=shift)
  local = _check(batch_size, partner, num_shards)
  grouped = x.reshape((num_shards, local) + x.shape[1:])
  if partner == "flip":
    out = jnp.flip(grouped, axis=1)
  elif partner == "roll":
    out = jnp.roll(grouped, shift, axis=1)
  else:
    perm = _local_permutations(key, num_shards, local)
    perm = perm.reshape(perm.shape + (1,) * (x.ndim - 1))
    out = jnp.take_along_axis(grouped, perm, axis=1)
  return out.reshape(x.shape)


def axis_index_and_size(axis_name) -> tuple[jax.Array, int]:
  """This device's index along `axis_name` (inside `shard_map`) and the axis size."""
  size = jax.lax.axis_size(axis_name) if hasattr(jax.lax, "axis_size") else jax.lax.psum(
      1, axis_name)
  return jax.lax.axis_index(axis_name), int(size)


def self_partnered(key: jax.Array, batch_size: int, partner: str = "flip", num_shards: int = 1,
                   *, axis_name=None):
  """Bool [B]: True where every partner of a sample (each `shift` k >= 1) is the sample itself.

  Such a sample mixes with nothing, and the skeleton returns it unchanged. It happens at the
  middle of an odd group with "flip", in groups of one with "roll" (its k-th partner is
  i − k mod B / S), and at the fixed points of "permute".

  Returns a NumPy array when it is known at trace time (flip, roll), None when no sample
  can be its own partner (then there is nothing to select), else a traced array (permute).
  Arguments as `gather_partners` (the local shard's size with `axis_name`).
  """
  local = _check(batch_size, partner, 1 if axis_name is not None else num_shards)
  if partner == "flip":
    if local % 2 == 0:
      return None
    return np.tile(np.arange(local) == local // 2, batch_size // local)
  if partner == "roll":  # i − k ≡ i (mod local) for every k = 1..n only when local == 1
    return np.ones((batch_size,), bool) if local == 1 else None
  # A permutation ignores the shift: every partner is the same sample.
  index = jnp.arange(batch_size, dtype=jnp.int32)
  return gather_partners(index, key, partner, num_shards, axis_name=axis_name) == index
