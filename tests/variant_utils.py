"""Helpers shared by the variant tests (not collected: no `test_` prefix)."""

import jax
import jax.numpy as jnp
import numpy as np


def elem_keys(key, batch_size):
  """The per-sample keys of mode "elem": `split(split(key)[1], B)` (see `jaxmix.mix_batch`)."""
  return jax.random.split(jax.random.split(key)[1], batch_size)


def coded(batch_size, h, w):
  code = np.arange(batch_size * h * w, dtype=np.int32).reshape(batch_size, h, w)
  return jnp.asarray(np.stack([code, code % 7], -1).astype(np.float32))
