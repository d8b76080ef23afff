"""Batch, pair and elem modes: how many mixing parameters a batch draws.

A sampler is written once for one sample, `draw(key) -> pytree of scalars`, and
each mode turns it into the parameters of a whole batch:
- "batch": one draw shared by every sample (scalars);
- "elem": one draw per sample, `vmap` over `split(key, B)`;
- "pair": timm's pair mode; like elem, but sample i and its flip partner share
  the draw of the one with the lower index in its shard (requires even shards).
"""

from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp

from jaxmix._src import _checks


def draw_params(key: chex.PRNGKey, draw: Callable[[chex.PRNGKey], Any], mode: str,
                batch_size: int, num_shards: int = 1) -> Any:
  """Draws mixing parameters for a batch according to `mode`.

  Args:
    key: PRNG key.
    draw: single-sample sampler, `key -> pytree of scalar arrays`.
    mode: "batch", "pair" or "elem".
    batch_size: B.
    num_shards: the number of contiguous groups partners stay within (pair mode
      pairs i with its flip inside the group).

  Returns:
    The pytree of `draw`, with scalars in batch mode and `[B]` leaves otherwise.
  """
  _checks.check_choice("mode", mode, _checks.MODES)
  if mode == "batch":
    return draw(key)
  params = jax.vmap(draw)(jax.random.split(key, batch_size))
  if mode == "elem":
    return params
  local = batch_size // num_shards
  if batch_size % num_shards or local % 2:
    raise ValueError(
        f"pair mode needs an even number of samples per shard, got batch size "
        f"{batch_size} over num_shards={num_shards}")
  first_of_pair = jnp.arange(local) < (local - 1 - jnp.arange(local))

  def symmetrize(leaf):
    grouped = leaf.reshape((num_shards, local) + leaf.shape[1:])
    first = first_of_pair.reshape((1, local) + (1,) * (leaf.ndim - 1))
    return jnp.where(first, grouped, jnp.flip(grouped, axis=1)).reshape(leaf.shape)

  return jax.tree.map(symmetrize, params)


def check_pair_partner(mode: str, partner: str) -> None:
  if mode == "pair" and partner != "flip":
    raise ValueError(
        f"pair mode mixes i with its flip partner (timm); partner must be 'flip', got {partner!r}")
