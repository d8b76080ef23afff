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

The gate (`prob`): a sample (a batch, a pair or a group, per the mode) mixes when
its word-0 uniform is below `prob`; otherwise its images, label row and every
target come back exactly unchanged.
"""

from typing import Any, Callable, NamedTuple, Optional, Sequence

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


def keep_unchanged(active: Optional[jax.Array], original, mixed):
  """`mixed` where `active`, `original` elsewhere (per sample; pytrees alike)."""
  if active is None:
    return mixed
  pick = lambda a, b: jnp.where(_layout.expand_per_sample(active, jnp.ndim(b)), b, a)
  return jax.tree.map(pick, original, mixed)


def mix_batch(key: jax.Array, images: jax.Array, labels: jax.Array, op: MixOp, *,
              mode: str, partner: str, num_shards: int = 1, axis_name=None,
              num_classes: Optional[int] = None, label_smoothing=0.0,
              multi_label: bool = False, prob=1.0,
              extras: Sequence[tuple] = ()) -> Mixed:
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
    extras: `(array, apply)` pairs mixed with the same params and partners, or
      `(array, apply, unmixed)` where the output of an unmixed sample is not the
      input itself (`unmixed(params, array)`: boxes in 2N slots, masks as soft rows).

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
  mixed = keep_unchanged(active, images, op.apply(params, images, *partner_images))
  mixed_extras = []
  for x, apply, *unmixed in extras:
    original = unmixed[0](params, x) if unmixed and active is not None else x
    mixed_extras.append(keep_unchanged(active, original, apply(params, x, *sources(x))))
  mixed_rows = keep_unchanged(active, rows,
                              targets.mix_rows(op.weights(params), (rows,) + sources(rows)))
  if _checks.concrete_value(prob) is None:  # a traced prob cannot raise: make it loud
    valid = (jnp.asarray(prob) >= 0) & (jnp.asarray(prob) <= 1)
    mixed_rows = jnp.where(valid, mixed_rows, jnp.nan)
  return Mixed(mixed, mixed_rows, tuple(mixed_extras), params, active)
