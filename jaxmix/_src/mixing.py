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

A sample whose partners are all itself (`pairing.self_partnered`: the middle of an odd
`flip` group, groups of one with `roll`, fixed points of `permute`) mixes with nothing:
the skeleton returns its image, label row and every extra array exactly as they were
(each extra in the form its apply returns, see `Extra.unmixed`), whatever the op. This
is enforced here once, by a select, rather than by each op's arithmetic; an op whose
apply is already the identity on such a sample (a pixel copy) says so with
`exact_on_self` and skips the select on images (CutMix's in-place patch path needs
that: a select after it would keep the unmixed batch alive). A NaN weight (a traced
invalid α) still gives NaN label rows there.

Key derivation (documented because the reference tests reproduce it):
`key_partner, key_params = jax.random.split(key)`; params are drawn from
`key_params` by the mode, partners from `key_partner` by the pairing.
"""

from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import _layout
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
  # True when `apply(params, x, x, ..., x)` is `x` exactly for every draw (pixel copies,
  # a guarded blend): the skeleton then skips its select on the images.
  exact_on_self: bool = False


class Extra(NamedTuple):
  """A further array (or pytree) mixed with the op's params and partners.

  `unmixed(params, value)` is what `apply` gives a sample that mixes with nothing (e.g.
  boxes in their 2N-slot form, masks as soft rows); None means `value` itself.
  """
  value: Any
  apply: Callable[..., Any]
  unmixed: Optional[Callable[[Any, Any], Any]] = None
  exact_on_self: bool = False


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
              extras: Sequence[Union[Extra, tuple]] = ()) -> Mixed:
  """Runs `op` on a batch: the skeleton every mixing op shares.

  Args:
    key: PRNG key.
    images: [B, ...] image batch (rank and layout checked by the caller's op).
    labels: integer ids [B] or float rows [B, K].
    op: the `MixOp`.
    mode, partner, num_shards: how many draws and who mixes with whom.
    axis_name: inside `shard_map`, the mapped batch axis (replaces `num_shards`).
    num_classes, label_smoothing, multi_label: label rows (see `jaxmix.label_rows`).
    extras: `Extra`s (or `(array, apply)` pairs) mixed with the same params and partners.

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
  own = pairing.self_partnered(key_partner, batch_size, partner, num_shards,
                               axis_name=axis_name)
  keep = None if own is None else _unmixed_samples(own, op.weights(params), images)
  mixed = op.apply(params, images, *partner_images)
  if not op.exact_on_self:
    mixed = keep_unmixed(keep, images, mixed)
  mixed_extras = []
  for extra in extras:
    extra = Extra(*extra)
    out = extra.apply(params, extra.value, *sources(extra.value))
    if not extra.exact_on_self:
      unmixed = extra.value if extra.unmixed is None else extra.unmixed(params, extra.value)
      out = keep_unmixed(keep, unmixed, out)
    mixed_extras.append(out)
  mixed_rows = targets.mix_rows(op.weights(params), (rows,) + sources(rows))
  return Mixed(mixed, keep_unmixed(keep, rows, mixed_rows), tuple(mixed_extras), params)


def _unmixed_samples(own, weights, images: jax.Array) -> jax.Array:
  """Bool [B]: the self-partnered samples whose weights are finite (a NaN stays loud)."""
  total = sum(jnp.asarray(w, jnp.float32) for w in weights)
  finite = jnp.broadcast_to(jnp.isfinite(total), own.shape)
  return _layout.match_batch_sharding(jnp.asarray(own) & finite, images)


def keep_unmixed(keep: Optional[jax.Array], unmixed, mixed):
  """`unmixed` where `keep` [B] is True, else `mixed` (pytrees of batch-leading leaves)."""
  if keep is None:
    return mixed

  def select(a, b):
    return jnp.where(keep.reshape(keep.shape + (1,) * (jnp.ndim(b) - 1)), a, b)

  return jax.tree.map(select, unmixed, mixed)
