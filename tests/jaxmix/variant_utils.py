"""Helpers shared by the variant tests (not collected: no `test_` prefix)."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxmix


def elem_words(key, batch_size, num_words):
  """The op words of mode "elem", [B, num_words]: row i of the key's words from word 1
  on (word 0 is the gate; see `jaxmix.mix_batch`)."""
  return jaxmix.random_words(key, batch_size, num_words, offset=1)


def coded(batch_size, h, w):
  code = np.arange(batch_size * h * w, dtype=np.int32).reshape(batch_size, h, w)
  return jnp.asarray(np.stack([code, code % 7], -1).astype(np.float32))
