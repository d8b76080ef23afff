"""The one op skeleton shared by every mixing op and the policy.

    check → label rows → split key → draw (one pass) → gate → gather partners → apply
    → mix targets → inactive samples unchanged

An op is a `MixOp`:
- `draw(words) -> params`: one sample's parameters (a pytree of scalars) from its
  `num_words` uint32 words; the mode (`jaxmix._src.modes`) says which row of
  `sampling.random_words` each sample reads, so a batch's draws are one hash pass;
- `apply(params, x, *partner_xs) -> mixed x`: mixes one image-like array. The
  skeleton calls it on the images, and callers may pass further arrays (per-pixel
  targets, other views) with their own apply function; all of them get the same
  params and the same partners, so they stay aligned pixel for pixel;
- `weights(params) -> (w_self, w_partner_1, ...)`: the label weight of each source.

Key derivation and word layout (documented because the reference tests reproduce
them): the draws are `random_words(key, ...)` of the op's key itself, each row holding
the gate uniform in word 0 and the op's words from word 1 on (`OP_WORDS_OFFSET`);
"permute" partners come from `jax.random.split(key)[0]` (no word equals it: see
`random_words`).

One notion of an unmixed sample, enforced here once, by a select, rather than by each
op's arithmetic: the skeleton returns its image, label row and every extra array
exactly as they were (each extra in the form its apply returns, see `Extra.unmixed`),
whatever the op, when
- the gate (`prob`) is off: a sample (a batch, a pair or a group, per the mode) mixes
  when its word-0 uniform is below `prob`;
- its partners are all itself (`pairing.self_partnered`: the middle of an odd `flip`
  group, groups of one with `roll`, fixed points of `permute`). An op whose apply is
  already the identity on such a sample (a pixel copy) says so with `exact_on_self`
  and skips that select on images (CutMix's in-place patch path needs that: a select
  after it would keep the unmixed batch alive). A NaN weight (a traced invalid α)
  still gives NaN label rows there.
"""

from typing import Any, Callable, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import _layout
from jaxmix._src import modes
from jaxmix._src import pairing
from jaxmix._src import sampling
from jaxmix._src import targets


# Word 0 of each row is the gate's; an op's own words start here.
OP_WORDS_OFFSET = 1


class MixOp(NamedTuple):
  """A mixing op: its single-sample sampler and word count, apply step, label weights."""
  draw: Callable[[jax.Array], Any]
  num_words: int
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
  """What `mix_batch` returns: mixed images, label rows, extra arrays, the draws and the
  gate (`active`: bool, scalar or [B]; None when `prob` is a concrete 1)."""
  images: jax.Array
  targets: jax.Array
  extras: tuple
  params: Any
  active: Optional[jax.Array] = None


def draw(key: jax.Array, op: MixOp, mode: str, batch_size: int, num_shards: int = 1,
         axis_name=None, prob=1.0) -> tuple[Optional[jax.Array], Any]:
  """(active, params) of a batch: the gate and the op's draws, from one hash pass.

  `active` is None when `prob` is a concrete 1 (nothing to gate); otherwise bool,
  scalar in batch mode, [B] else: word 0's uniform < prob.
  """
  _checks.check_probability("prob", prob)
  gated = _checks.concrete_value(prob) is None or float(prob) < 1.0

  def draw_row(words):
    params = op.draw(words[OP_WORDS_OFFSET:])
    return (sampling.unit(words[0]) < prob, params) if gated else (None, params)

  drawn = modes.draw_params(key, draw_row, OP_WORDS_OFFSET + op.num_words, mode,
                            batch_size, num_shards, axis_name)
  # One materialization point for the draws: XLA then computes them in one kernel,
  # instead of splitting them over several or re-hashing inside each consumer.
  return jax.lax.optimization_barrier(drawn)


def partner_key(key: jax.Array) -> jax.Array:
  """The key of "permute" partners: `jax.random.split(key)[0]` (unused, and so not
  computed, with "flip" and "roll")."""
  return jax.random.split(key)[0]


def mix_batch(key: jax.Array, images: jax.Array, labels: jax.Array, op: MixOp, *,
              mode: str, partner: str, num_shards: int = 1, axis_name=None,
              num_classes: Optional[int] = None, label_smoothing=0.0,
              multi_label: bool = False, prob=1.0,
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
    prob: probability that a sample (batch, pair, group per `mode`) is mixed, in
      [0, 1] (float or traced scalar). A traced value outside [0, 1] makes the
      label rows NaN.
    extras: `Extra`s (or `(array, apply)` pairs) mixed with the same params and partners.

  Returns:
    `Mixed(images, targets, extras, params, active)`.
  """
  _checks.check_images(images)
  _checks.check_choice("mode", mode, _checks.MODES)
  modes.check_pair_partner(mode, partner)
  rows = targets.batch_label_rows(images, labels, num_classes, label_smoothing, multi_label)
  batch_size = images.shape[0]
  key_partner = partner_key(key)
  active, params = draw(key, op, mode, batch_size, num_shards, axis_name, prob)

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
  keep_self = None if own is None else _unmixed_samples(own, op.weights(params), images)
  off = inactive(active)
  keep = _either(keep_self, off)
  mixed = op.apply(params, images, *partner_images)
  mixed = keep_unmixed(off if op.exact_on_self else keep, images, mixed)
  mixed_extras = []
  for extra in extras:
    extra = Extra(*extra)
    out = extra.apply(params, extra.value, *sources(extra.value))
    keep_extra = off if extra.exact_on_self else keep
    if keep_extra is not None:
      unmixed = extra.value if extra.unmixed is None else extra.unmixed(params, extra.value)
      out = keep_unmixed(keep_extra, unmixed, out)
    mixed_extras.append(out)
  mixed_rows = keep_unmixed(keep, rows,
                            targets.mix_rows(op.weights(params), (rows,) + sources(rows)))
  if _checks.concrete_value(prob) is None:  # a traced prob cannot raise: make it loud
    valid = (jnp.asarray(prob) >= 0) & (jnp.asarray(prob) <= 1)
    mixed_rows = jnp.where(valid, mixed_rows, jnp.nan)
  return Mixed(mixed, mixed_rows, tuple(mixed_extras), params, active)


def _unmixed_samples(own, weights, images: jax.Array) -> jax.Array:
  """Bool [B]: the self-partnered samples whose weights are finite (a NaN stays loud)."""
  total = sum(jnp.asarray(w, jnp.float32) for w in weights)
  finite = jnp.broadcast_to(jnp.isfinite(total), own.shape)
  return _layout.match_batch_sharding(jnp.asarray(own) & finite, images)


def _either(a: Optional[jax.Array], b: Optional[jax.Array]) -> Optional[jax.Array]:
  if a is None or b is None:
    return b if a is None else a
  return a | b


def inactive(active: Optional[jax.Array]) -> Optional[jax.Array]:
  """The samples the gate leaves unmixed (None: all mix)."""
  return None if active is None else ~active


def keep_unmixed(keep: Optional[jax.Array], unmixed, mixed):
  """`unmixed` where `keep` (scalar or [B]) is True, else `mixed` (pytrees of
  batch-leading leaves)."""
  if keep is None:
    return mixed

  def select(a, b):
    return jnp.where(keep.reshape(keep.shape + (1,) * (jnp.ndim(b) - keep.ndim)), a, b)

  return jax.tree.map(select, unmixed, mixed)
