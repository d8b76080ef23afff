"""The per-sample CutMix draws as they were before the one-pass draws (commit ce69b0e).

Kept only so that `benchmarks.draw_speed` can time the old and the new draws in one
interleaved run: elem mode split the key B ways and vmapped a single-sample sampler,
which split its key again, drew λ from two loop-free Gammas (random words, Box–Muller,
8 proposals, a +4 boost) and the centre from a second hash pass. Restated from
`jaxmix/_src/{sampling,boxes,cutmix,modes}.py` at that commit; not used by jaxmix.
"""

import math

import jax
import jax.extend.random
import jax.numpy as jnp

from jaxmix._src import boxes

_PROPOSALS, _BOOST = 8, 4


def _words(key, shape):
  size = math.prod(shape)
  count = jnp.arange(size + size % 2, dtype=jnp.uint32)
  return jax.extend.random.threefry_2x32(jax.random.key_data(key), count)[:size].reshape(shape)


def _unit(words):
  return ((words >> 9).astype(jnp.float32) + 0.5) * (2.0 ** -23)


def _log_gamma(key, a, shape):
  n, k = _PROPOSALS, _BOOST
  u = _unit(_words(key, shape + (2 * n + k,)))
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
  log_first = jnp.zeros_like(d)
  for i in reversed(range(n)):
    log_first = jnp.where(accept[..., i], log_v[..., i], log_first)
  steps = a[..., None] + jnp.arange(k, dtype=jnp.float32)
  return jnp.log(d) + log_first + jnp.sum(jnp.log(u[..., 2 * n:]) / steps, axis=-1)


def _sample_lam(key, alpha):
  log_g = _log_gamma(key, jnp.full((2,), alpha, jnp.float32), (2,))
  return jax.nn.sigmoid(log_g[0] - log_g[1])


def _sample_centre(key, height, width):
  w = _words(key, (4,))
  below = lambda hi, lo, span: (((hi % span) * (2 ** 32 % span) + lo % span) % span).astype(
      jnp.int32)
  return below(w[0], w[1], height), below(w[2], w[3], width)


def cutmix_elem_draws(key, alpha, batch, height, width):
  """{"box", "lam"} [B] of elem-mode CutMix, drawn as before (corrected λ)."""
  def draw(k):
    key_lam, key_box = jax.random.split(k)
    lam = _sample_lam(key_lam, alpha)
    cy, cx = _sample_centre(key_box, height, width)
    box = boxes.box_from_centre(lam, cy, cx, height, width)
    return {"box": box, "lam": boxes.corrected_lam(box, height, width)}
  _, key_params = jax.random.split(key)
  return jax.vmap(draw)(jax.random.split(key_params, batch))
