"""The one op skeleton shared by CutMix, Mixup and the policy.

    check → label rows → split key → draw params → gather partners → apply → mix targets

An op is a `MixOp` of three functions:
- `draw(key) -> params`: one sample's parameters (a pytree of scalars); the mode
  (`jaxmix._src.modes`) turns it into one draw per batch, per group or per sample;
- `apply(params, x, *partner_xs) -> mixed x`: mixes one image-like array. The
  skeleton calls it on the images, and callers may pass further arrays (per-pixel
  targets, other views) with their own apply function; all of them get the same
  params and the same partners, so they stay aligned pixel for pixel;
- `weights(params) -> (w_self, w_partner_1, ...)`: the label weight of each source.

Key derivation (documented because the reference tests reproduce it):
`key_partner, key_params = jax.random.split(key)`; params are drawn from
`key_params` by the mode, partners from `key_partner` by the pairing.
"""

from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax

from jaxmix._src import _checks
from jaxmix._src import modes
from jaxmix._src import pairing
from jaxmix._src import targets


class MixOp(NamedTuple):
  """A mixing op: its single-sample sampler, its apply step and its label weights."""
  draw: Callable[[jax.Array], Any]
  apply: Callable[..., jax.Array]
  weights: Callable[[Any], Sequence[jax.Array]]
  num_partners: int = 1
  # Optional `refine(params, images, *partner_images) -> params`, run once the
  # partners are known: for parameters that depend on them (SaliencyMix's box).
  refine: Optional[Callable[..., Any]] = None


class Mixed(NamedTuple):
  """What `mix_batch` returns: mixed images, label rows, extra arrays, and the draws."""
  images: jax.Array
  targets: jax.Array
  extras: tuple
  params: Any


def mix_batch(key: jax.Array, images: jax.Array, labels: jax.Array, op: MixOp, *,
              mode: str, partner: str, num_shards: int = 1, axis_name=None,
              num_classes: Optional[int] = None, label_smoothing=0.0,
              multi_label: bool = False,
              extras: Sequence[tuple[jax.Array, Callable[..., jax.Array]]] = ()) -> Mixed:
  """Runs `op` on a batch: the skeleton every mixing op shares.

  Args:
    key: PRNG key.
    images: [B, ...] image batch (rank and layout checked by the caller's op).
    labels: integer ids [B] or float rows [B, K].
    op: the `MixOp`.
    mode, partner, num_shards: how many draws and who mixes with whom.
    axis_name: inside `shard_map`, the mapped batch axis (replaces `num_shards`).
    num_classes, label_smoothing, multi_label: label rows (see `jaxmix.label_rows`).
    extras: `(array, apply)` pairs mixed with the same params and partners.

  Returns:
    `Mixed(images, targets, extras, params)`.
  """
  _checks.check_images(images)
  _checks.check_choice("mode", mode, _checks.MODES)
  modes.check_pair_partner(mode, partner)
  rows = targets.batch_label_rows(images, labels, num_classes, label_smoothing, multi_label)
  batch_size = images.shape[0]
  key_partner, key_params = jax.random.split(key)
  params = modes.draw_params(key_params, op.draw, mode, batch_size, num_shards, axis_name)

  def sources(x):  # x may be a pytree (e.g. a dict of detection boxes)
    return tuple(
        jax.tree.map(lambda a, k=k: pairing.gather_partners(
            a, key_partner, partner, num_shards, shift=k, axis_name=axis_name), x)
        for k in range(1, op.num_partners + 1))

  partner_images = sources(images)
  if op.refine is not None:
    params = op.refine(params, images, *partner_images)
  mixed = op.apply(params, images, *partner_images)
  mixed_extras = tuple(apply(params, x, *sources(x)) for x, apply in extras)
  mixed_rows = targets.mix_rows(op.weights(params), (rows,) + sources(rows))
  return Mixed(mixed, mixed_rows, mixed_extras, params)
