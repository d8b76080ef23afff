"""Random draws of mixing weights: λ ~ Beta(α, α) and Dirichlet weights, loop-free."""

import math
from typing import Sequence

import jax
import jax.extend.random
import jax.numpy as jnp

from jaxmix._src import _checks


# Gamma(a) is drawn as Gamma(a + 4)·Π U_i^(1/(a+i)): Marsaglia–Tsang rejects a
# proposal with probability < 0.0080 for shape >= 4 (0.048 at shape 1; numerical
# integration of its acceptance region), so 8 proposals all fail with probability
# < 0.008^8 < 2e-17 per Gamma (< 4e-17 per λ), where 16 were needed at shape 1.
_GAMMA_PROPOSALS = 8
_GAMMA_BOOST = 4


def random_words(key: jax.Array, shape: tuple) -> jax.Array:
  """uint32 random words; with a threefry key, both words of each hash.

  `jax.random.bits` (partitionable threefry) spends one 2x32 hash per 32-bit word
  (it XORs the pair); the hash is most of the cost of a per-sample draw, so a
  threefry key here uses both halves of each hash of the counters 0..n−1.
  """
  if str(jax.random.key_impl(key)) != "threefry2x32":
    return jax.random.bits(key, shape, jnp.uint32)
  size = math.prod(shape)
  count = jnp.arange(size + size % 2, dtype=jnp.uint32)
  return jax.extend.random.threefry_2x32(jax.random.key_data(key), count)[:size].reshape(shape)


def _unit(words: jax.Array) -> jax.Array:
  # The centres of 2^23 equal cells of (0, 1): exact in float32, never 0 or 1, so
  # every log below is finite without clamping.
  return ((words >> 9).astype(jnp.float32) + 0.5) * (2.0 ** -23)


def _log_gamma(key: jax.Array, a: jax.Array, shape: tuple) -> jax.Array:
  """log of a Gamma(a, 1) draw by Marsaglia & Tsang (2000), with no loop.

  `jax.random.gamma` rejects in a `while` loop; vmapped over a sharded batch,
  its "all accepted?" test becomes a cross-device all-reduce per iteration.
  Here a fixed number of proposals is drawn at once and the first accepted one
  is kept (see `_GAMMA_PROPOSALS` for the bound on all failing; that case returns
  the proposal mean d). The shape is boosted by 4 with Gamma(a) = Gamma(a + 1)·
  U^(1/a) applied four times, in log space so tiny a cannot underflow. All
  uniforms and the normals (Box–Muller) come from one block of random words.
  """
  n, k = _GAMMA_PROPOSALS, _GAMMA_BOOST
  u = _unit(random_words(key, shape + (2 * n + k,)))
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
  steps = a[..., None] + jnp.arange(k, dtype=jnp.float32)
  log_boost = jnp.sum(jnp.log(u[..., 2 * n:]) / steps, axis=-1)
  return jnp.log(d) + log_first + log_boost


def sample_lam(key: jax.Array, alpha, shape: Sequence[int] = ()) -> jax.Array:
  """Samples the mixing ratio λ ~ Beta(α, α) as float32.

  λ = G1 / (G1 + G2) with G1, G2 ~ Gamma(α) drawn by a loop-free sampler, so
  per-sample λ over a sharded batch needs no cross-device communication.

  Args:
    key: PRNG key.
    alpha: concentration α > 0 (a Python number or a scalar array; an array does
      not cause a retrace when its value changes).
    shape: shape of the returned λ; `()` for one λ, `(batch,)` per sample.

  Returns:
    float32 array of `shape` with values in [0, 1]; NaN where a traced α is <= 0
    or not finite (a concrete one raises `ValueError`).
  """
  _checks.check_positive("alpha", alpha)
  shape = tuple(shape)
  alpha = jnp.broadcast_to(jnp.asarray(alpha, jnp.float32), shape)
  # Both Gammas from one block of random words: one hash pass per draw.
  log_g = _log_gamma(key, jnp.broadcast_to(alpha[..., None], shape + (2,)), shape + (2,))
  # A traced α <= 0 or ∞ cannot raise inside jit; make it loud (NaN), never a plausible λ.
  valid = (alpha > 0) & jnp.isfinite(alpha)
  return jnp.where(valid, jax.nn.sigmoid(log_g[..., 0] - log_g[..., 1]), jnp.nan)


def sample_dirichlet(key: jax.Array, alpha, num: int, shape: Sequence[int] = ()) -> jax.Array:
  """Samples weights w ~ Dirichlet(α·1_num) as float32, loop-free like `sample_lam`.

  w_i = G_i / Σ_j G_j with G_i ~ Gamma(α), computed as a softmax of log G so that
  small α cannot underflow. For num = 2, w_0 ~ Beta(α, α).

  Args:
    key: PRNG key.
    alpha: concentration α > 0 (float or traced scalar).
    num: number of weights (static int >= 2).
    shape: batch shape; the result has shape `shape + (num,)`.

  Returns:
    float32 weights summing to 1 along the last axis; NaN where a traced α is
    <= 0 or not finite.
  """
  _checks.check_positive("alpha", alpha)
  num = _checks.static_int("num", num, minimum=2)
  shape = tuple(shape) + (num,)
  alpha = jnp.broadcast_to(jnp.asarray(alpha, jnp.float32), shape)
  weights = jax.nn.softmax(_log_gamma(key, alpha, shape), axis=-1)
  valid = (alpha > 0) & jnp.isfinite(alpha)
  return jnp.where(valid, weights, jnp.nan)
