"""Random words, and the draws made from them: λ ~ Beta(α, α), Dirichlet weights, uniforms.

Every op draws all its parameters, for every sample, from ONE hash pass: `random_words`
hashes counter pairs (row, pair) with threefry-2x32 and keeps both output words. A
sampler here turns a slice of a row's words into one value (`beta_from_words`, ...),
so an op's draw is plain arithmetic on words: no key splits, no loops, and row r's
draws do not depend on how many rows are drawn.
"""

import math
from typing import Sequence, Union

import jax
import jax.extend.random
import jax.numpy as jnp
import numpy as np

from jaxmix._src import _checks


# Gamma(a) is drawn as Gamma(a + 4)·Π U_i^(1/(a+i)): Marsaglia–Tsang rejects a
# proposal with probability < 0.0080 for shape >= 4 (0.048 at shape 1; numerical
# integration of its acceptance region), so 8 proposals all fail with probability
# < 0.008^8 < 2e-17 per Gamma, where 16 were needed at shape 1.
_GAMMA_PROPOSALS = 8
_GAMMA_BOOST = 4
GAMMA_WORDS = 2 * _GAMMA_PROPOSALS + _GAMMA_BOOST
# λ ~ Beta(α, α): two words for Ulrich's method, two more for the boost below α = ½.
LAM_WORDS = 4

Rows = Union[int, jax.Array]


def _is_threefry(key: jax.Array) -> bool:
  return str(jax.random.key_impl(key)) == "threefry2x32"


# The pair counter's top bit is set, so no word here is a key that `jax.random.split(key)`
# or `fold_in(key, d)` (d < 2^31) derives from the same key: those hash (0, i).
_PAIR_BASE = 2 ** 31
# Up to this many pairs per row are hashed apart, one [R] array each, which XLA fuses
# into the kernels that use them; more (FMix's normals, n-way Mixup's Gammas) are
# hashed as one [R, P] block, one kernel, instead of many small ones.
_PAIRS_APART = 8


def random_words(key: jax.Array, rows: Rows, num: int, offset: int = 0) -> jax.Array:
  """uint32 words [R, num]: words `offset` … `offset + num − 1` of each row.

  Word j of row r is output j % 2 of threefry2x32(key, (r, 2^31 + j // 2)): one hash
  gives two words, and a row's words depend only on (key, r, j). So row r of a batch
  can be drawn alone (`cutmix_single(index=r)`, one shard inside `shard_map`), and the
  words at `offset` are those a longer draw from 0 has there. Off CPU, a few pairs are
  hashed as separate [R] arrays (see `_PAIRS_APART`): the same words, fused by XLA into
  the kernels that use them instead of materialized as a [R, num] block.

  Args:
    key: PRNG key. A non-threefry key (rbg) hashes each word with `jax.random.bits`
      of `fold_in(fold_in(key, r), j)` instead (slower, same layout).
    rows: R, for rows 0 … R − 1, or an int array [R] of row indices (< 2^32).
    num: words per row (static).
    offset: index of the first word (static).
  """
  num = _checks.static_int("num", num)
  offset = _checks.static_int("offset", offset, minimum=0)
  row_ids = (jnp.arange(rows, dtype=jnp.uint32) if isinstance(rows, int)
             else jnp.asarray(rows).astype(jnp.uint32))
  if not _is_threefry(key):
    cols = jnp.arange(offset, offset + num, dtype=jnp.uint32)
    word = lambda r, j: jax.random.bits(
        jax.random.fold_in(jax.random.fold_in(key, r), j), (), jnp.uint32)
    return jax.vmap(lambda r: jax.vmap(lambda j: word(r, j))(cols))(row_ids)
  key_data = jax.random.key_data(key)
  pairs = range(offset // 2, (offset + num - 1) // 2 + 1)
  start = offset % 2

  if len(pairs) > _PAIRS_APART:
    return words_as_block(key_data, row_ids, pairs, start, num)
  # XLA:CPU runs each threefry call as a while loop of 5 trips, a few small kernels each:
  # one call for all pairs there (5× faster draws at 256 samples), the same words.
  return jax.lax.platform_dependent(
      key_data, row_ids, cpu=lambda k, r: words_as_block(k, r, pairs, start, num),
      default=lambda k, r: words_apart(k, r, pairs, start, num))


def words_as_block(key_data: jax.Array, row_ids: jax.Array, pairs: range, start: int,
                   num: int) -> jax.Array:
  """`random_words` with every pair of every row hashed by one threefry call [R, P]."""
  grid = (row_ids.shape[0], len(pairs))
  pair_ids = jnp.asarray(pairs, jnp.uint32) + jnp.uint32(_PAIR_BASE)
  count = jnp.stack([jnp.broadcast_to(row_ids[:, None], grid),
                     jnp.broadcast_to(pair_ids[None], grid)])
  hashed = jax.extend.random.threefry_2x32(key_data, count)  # [2, R, P]: both words
  return jnp.moveaxis(hashed, 0, -1).reshape(grid[0], 2 * grid[1])[:, start:start + num]


def words_apart(key_data: jax.Array, row_ids: jax.Array, pairs: range, start: int,
                num: int) -> jax.Array:
  """`random_words` with one threefry call [R] per pair: the same words."""
  words = []
  for pair in pairs:
    count = jnp.stack([row_ids, jnp.full_like(row_ids, _PAIR_BASE + pair)])
    hashed = jax.extend.random.threefry_2x32(key_data, count)  # [2, R]: both words
    words += [hashed[0], hashed[1]]
  return jnp.stack(words[start:start + num], axis=-1)


def unit(words: jax.Array) -> jax.Array:
  """Uniforms in (0, 1), float32: the centres of 2^23 equal cells.

  Exact in float32, never 0 or 1, so every log below is finite without clamping.
  """
  return ((words >> 9).astype(jnp.float32) + 0.5) * (2.0 ** -23)


def uniform(word: jax.Array, low, high) -> jax.Array:
  """U(low, high) from one word (float32; bounds may be traced)."""
  low = jnp.asarray(low, jnp.float32)
  return low + (jnp.asarray(high, jnp.float32) - low) * unit(word)


def below(high: jax.Array, low: jax.Array, span) -> jax.Array:
  """A uniform integer in 0 … span − 1 from two words: (high·2^32 + low) mod span.

  As `jax.random.randint`, the 64-bit number's bias is < span / 2^64. `span` may be
  traced (int, 1 … 65535; every product then stays below 2^32).
  """
  concrete = _checks.concrete_value(span)
  if concrete is not None and not np.all((concrete > 0) & (concrete < 2 ** 16)):
    raise ValueError(f"image side must be in 1..65535, got {concrete.tolist()}")
  span = jnp.maximum(jnp.asarray(span), 1).astype(jnp.uint32)
  multiplier = (jnp.uint32(0) - span) % span  # 2^32 mod span
  return (((high % span) * multiplier + low % span) % span).astype(jnp.int32)


def _ulrich_logit(u: jax.Array, v: jax.Array, alpha: jax.Array) -> jax.Array:
  """log(X / (1 − X)) for X ~ Beta(α, α), α > ½, from two uniforms (Ulrich 1984).

  X = (1 + R·cos 2πV) / 2 with R = √(1 − U^(2 / (2α − 1))): a point of the unit disc
  with density ∝ (1 − r²)^(α − 3/2) projects onto (1 − y²)^(α − 1). The side nearer
  0 is computed without cancellation, (1 − R|c|) / 2 = (t + (1 − t)·s²) / (2(1 + R|c|))
  with t = 1 − R², so tiny λ keep their relative precision.
  """
  t = jnp.exp(jnp.log(u) * (2.0 / (2.0 * alpha - 1.0)))
  radius = jnp.sqrt(-jnp.expm1(jnp.log(u) * (2.0 / (2.0 * alpha - 1.0))))
  angle = (2.0 * math.pi) * v
  c, s = jnp.cos(angle), jnp.sin(angle)
  small = (t + (1.0 - t) * s * s) / (2.0 * (1.0 + radius * jnp.abs(c)))
  logit_small = jnp.log(small) - jnp.log1p(-small)
  return jnp.where(c < 0, logit_small, -logit_small)


def beta_from_words(words: jax.Array, alpha) -> jax.Array:
  """λ ~ Beta(α, α) from `LAM_WORDS` words (last axis), float32; exact, no rejection.

  α > ½: Ulrich's method on words 0, 1. α <= ½: Beta(α, α) = B·U₁^(1/α) /
  (B·U₁^(1/α) + (1 − B)·U₂^(1/α)) with B ~ Beta(α + 1, α + 1) by Ulrich (words 0, 1)
  and U₁, U₂ words 2, 3. (Two Gamma(α) = Gamma(α + 1)·U^(1/α), and the ratio of two
  Gamma(α + 1) is B, independent of their sum.) In log-odds, so tiny α cannot
  underflow. A traced α computes both and selects, so the stream is the same
  traced or not. NaN where α <= 0 or is not finite.
  """
  alpha = jnp.asarray(alpha, jnp.float32)
  u = unit(words)
  direct = _ulrich_logit(u[..., 0], u[..., 1], alpha)
  boosted = (_ulrich_logit(u[..., 0], u[..., 1], alpha + 1.0)
             + (jnp.log(u[..., 2]) - jnp.log(u[..., 3])) / alpha)
  lam = jax.nn.sigmoid(jnp.where(alpha > 0.5, direct, boosted))
  return jnp.where((alpha > 0) & jnp.isfinite(alpha), lam, jnp.nan)


def log_gamma_from_words(words: jax.Array, a: jax.Array) -> jax.Array:
  """log of a Gamma(a, 1) draw by Marsaglia & Tsang (2000) from `GAMMA_WORDS` words.

  `jax.random.gamma` rejects in a `while` loop; vmapped over a sharded batch, its
  "all accepted?" test becomes a cross-device all-reduce per iteration. Here a fixed
  number of proposals is made at once and the first accepted one is kept (see
  `_GAMMA_PROPOSALS` for the bound on all failing; that case returns the proposal
  mean d). The shape is boosted by 4 with Gamma(a) = Gamma(a + 1)·U^(1/a) applied four
  times, in log space so tiny a cannot underflow. Normals by Box–Muller.
  """
  n, k = _GAMMA_PROPOSALS, _GAMMA_BOOST
  u = unit(words)
  d = a + (k - 1.0 / 3.0)
  c = jax.lax.rsqrt(9.0 * d)
  radius = jnp.sqrt(-2.0 * jnp.log(u[..., :n // 2]))
  angle = (2.0 * math.pi) * u[..., n // 2:n]
  x = jnp.concatenate([radius * jnp.cos(angle), radius * jnp.sin(angle)], axis=-1)
  log_u = jnp.log(u[..., n:2 * n])
  d_, c_ = d[..., None], c[..., None]
  w = 1.0 + c_ * x
  v = w * w * w
  safe_v = jnp.where(v > 0, v, 1.0)
  log_v = jnp.log(safe_v)
  accept = (v > 0) & (log_u < 0.5 * x * x + d_ - d_ * safe_v + d_ * log_v)
  # The first accepted proposal, as a chain of selects from the last (cheaper
  # than argmax + gather here); none accepted leaves log v = 0.
  log_first = jnp.zeros_like(d)
  for i in reversed(range(n)):
    log_first = jnp.where(accept[..., i], log_v[..., i], log_first)
  log_boost = sum(jnp.log(u[..., 2 * n + i]) / (a + i) for i in range(k))
  return jnp.log(d) + log_first + log_boost


def dirichlet_from_words(words: jax.Array, alpha, num: int) -> jax.Array:
  """w ~ Dirichlet(α·1_num) from `num · GAMMA_WORDS` words: softmax of num log-Gammas."""
  alpha = jnp.asarray(alpha, jnp.float32)
  blocks = words.reshape(words.shape[:-1] + (num, GAMMA_WORDS))
  a = jnp.broadcast_to(alpha, blocks.shape[:-1])
  weights = jax.nn.softmax(log_gamma_from_words(blocks, a), axis=-1)
  return jnp.where((alpha > 0) & jnp.isfinite(alpha), weights, jnp.nan)


def sample_words(key: jax.Array, shape: Sequence[int], num: int, offset: int = 0) -> jax.Array:
  """`random_words` for rows 0 … prod(shape) − 1, shaped `shape + (num,)`."""
  shape = tuple(shape)
  return random_words(key, math.prod(shape), num, offset).reshape(shape + (num,))


def sample_lam(key: jax.Array, alpha, shape: Sequence[int] = (), *, offset: int = 0) -> jax.Array:
  """Samples the mixing ratio λ ~ Beta(α, α) as float32 (`beta_from_words`).

  λ of row r comes from words `offset` … `offset + 3` of row r of `random_words(key,
  ...)`: the λ an op draws for sample r is `sample_lam(k, α, (B,), offset=o)[r]`
  with the op's documented key k and offset o.

  Args:
    key: PRNG key.
    alpha: concentration α > 0 (a Python number or a scalar array; an array does
      not cause a retrace when its value changes).
    shape: shape of the returned λ; `()` for one λ (row 0), `(batch,)` per sample.
    offset: the first of the four words used in each row.

  Returns:
    float32 array of `shape` with values in [0, 1]; NaN where a traced α is <= 0
    or not finite (a concrete one raises `ValueError`).
  """
  _checks.check_positive("alpha", alpha)
  return beta_from_words(sample_words(key, shape, LAM_WORDS, offset), alpha)


def sample_dirichlet(key: jax.Array, alpha, num: int, shape: Sequence[int] = (), *,
                     offset: int = 0) -> jax.Array:
  """Samples weights w ~ Dirichlet(α·1_num) as float32, loop-free.

  w_i = G_i / Σ_j G_j with G_i ~ Gamma(α) (`log_gamma_from_words`, `GAMMA_WORDS` words
  each, from `offset` on), computed as a softmax of log G so that small α cannot
  underflow.

  Args:
    key: PRNG key.
    alpha: concentration α > 0 (float or traced scalar).
    num: number of weights (static int >= 2).
    shape: batch shape; the result has shape `shape + (num,)`.
    offset: the first word used in each row.

  Returns:
    float32 weights summing to 1 along the last axis; NaN where a traced α is
    <= 0 or not finite.
  """
  _checks.check_positive("alpha", alpha)
  num = _checks.static_int("num", num, minimum=2)
  words = sample_words(key, shape, num * GAMMA_WORDS, offset)
  return dirichlet_from_words(words, alpha, num)
