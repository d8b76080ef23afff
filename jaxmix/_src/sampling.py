"""Random draws of mixing weights: λ ~ Beta(α, α) and Dirichlet weights, loop-free."""

from typing import Sequence

import chex
import jax
import jax.numpy as jnp

from jaxmix._src import _checks


_GAMMA_PROPOSALS = 16


def _log_gamma(key: chex.PRNGKey, a: jax.Array, shape: tuple) -> jax.Array:
  """log of a Gamma(a, 1) draw by Marsaglia & Tsang (2000), with no loop.

  `jax.random.gamma` rejects in a `while` loop; vmapped over a sharded batch,
  its "all accepted?" test becomes a cross-device all-reduce per iteration.
  Here 16 proposals are drawn at once and the first accepted one is kept. Each
  is accepted with probability > 0.95 (a >= 1), so all 16 fail with
  probability < 1e-20; that case returns the proposal mean d. a < 1 uses
  Gamma(a) = Gamma(a + 1)·U^(1/a), in log space so tiny a cannot underflow.
  """
  boosted = a < 1.0
  a1 = jnp.where(boosted, a + 1.0, a)
  d = a1 - 1.0 / 3.0
  c = 1.0 / jnp.sqrt(9.0 * d)
  k_normal, k_accept, k_boost = jax.random.split(key, 3)
  draws = shape + (_GAMMA_PROPOSALS,)
  x = jax.random.normal(k_normal, draws, jnp.float32)
  log_u = jnp.log(jax.random.uniform(k_accept, draws, jnp.float32, minval=1e-38))
  d_, c_ = d[..., None], c[..., None]
  v = (1.0 + c_ * x) ** 3
  safe_v = jnp.where(v > 0, v, 1.0)
  accept = (v > 0) & (log_u < 0.5 * x * x + d_ - d_ * safe_v + d_ * jnp.log(safe_v))
  first = jnp.argmax(accept, axis=-1)
  v_first = jnp.take_along_axis(safe_v, first[..., None], axis=-1)[..., 0]
  v_first = jnp.where(jnp.any(accept, axis=-1), v_first, 1.0)
  log_g = jnp.log(d) + jnp.log(v_first)
  log_boost = jnp.log(jax.random.uniform(k_boost, shape, jnp.float32, minval=1e-38)) / a
  return jnp.where(boosted, log_g + log_boost, log_g)


def sample_lam(key: chex.PRNGKey, alpha, shape: Sequence[int] = ()) -> jax.Array:
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
  key_1, key_2 = jax.random.split(key)
  log_g1, log_g2 = _log_gamma(key_1, alpha, shape), _log_gamma(key_2, alpha, shape)
  # A traced α <= 0 or ∞ cannot raise inside jit; make it loud (NaN), never a plausible λ.
  valid = (alpha > 0) & jnp.isfinite(alpha)
  return jnp.where(valid, jax.nn.sigmoid(log_g1 - log_g2), jnp.nan)


def sample_dirichlet(key: chex.PRNGKey, alpha, num: int, shape: Sequence[int] = ()) -> jax.Array:
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
