"""Schedules of prob and α: values against closed forms, and no retrace in a jitted step."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix
from jaxmix import schedules

X = jnp.asarray(np.random.RandomState(0).randint(0, 256, (8, 8, 8, 3)), jnp.uint8)
Y = jnp.arange(8) % 4


def test_schedule_values_match_closed_forms():
  steps = np.arange(0, 130)
  warm = np.asarray([schedules.linear_warmup(0.8, 20, start=0.2)(s) for s in steps])
  np.testing.assert_allclose(warm, 0.2 + np.minimum(steps / 20, 1.0) * 0.6, atol=1e-6)
  cos = np.asarray(jax.vmap(schedules.cosine(1.0, 100, end=0.1))(jnp.asarray(steps)))
  want = 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * np.minimum(steps / 100, 1.0)))
  np.testing.assert_allclose(cos, want, atol=1e-6)
  off = np.asarray(jax.vmap(schedules.off_last(0.5, 100, 10))(jnp.asarray(steps)))
  np.testing.assert_array_equal(off, np.where(steps < 90, 0.5, 0.0).astype(np.float32))
  joined = schedules.join([schedules.linear_warmup(1.0, 10), schedules.constant(1.0),
                           schedules.constant(0.0)], [10, 90])
  got = np.asarray(jax.vmap(joined)(jnp.asarray(steps)))
  np.testing.assert_allclose(got, np.where(steps < 10, steps / 10, np.where(steps < 90, 1, 0)),
                             atol=1e-6)
  with pytest.raises(ValueError, match="one more schedule"):
    schedules.join([schedules.constant(1.0)], [10])
  with pytest.raises(ValueError, match="warmup_steps"):
    schedules.linear_warmup(1.0, 0)


def test_policy_schedules_in_a_jitted_step_compile_once():
  config = jaxmix.MixConfig(num_classes=4, mixup_alpha=schedules.linear_warmup(1.0, 4, 0.1),
                            cutmix_alpha=1.0, prob=schedules.off_last(1.0, 10, 3),
                            mode="elem")

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(key, x, y, step):
    return jaxmix.mix(key, x, y, config, step=step)

  for s in range(10):
    out, rows = step(jax.random.key(s), X, Y, jnp.int32(s))
    unmixed = np.array_equal(np.asarray(out), np.asarray(X))
    if s >= 7:  # prob 0 for the last 3 steps: nothing mixed, one-hot rows
      assert unmixed
      np.testing.assert_array_equal(np.asarray(rows), np.eye(4)[np.asarray(Y)])
    else:
      assert not unmixed
  chex.clear_trace_counter()
  with pytest.raises(ValueError, match="pass step="):
    jaxmix.mix(jax.random.key(0), X, Y, config)


def test_op_alpha_schedule_in_a_jitted_step_compiles_once():
  alpha = schedules.cosine(2.0, 50, end=0.2)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(key, x, y, s):
    return jaxmix.cutmix(key, x, y, alpha=alpha(s), num_classes=4)

  for s in (0, 10, 49, 80):
    _, rows = step(jax.random.key(s), X, Y, jnp.int32(s))
    np.testing.assert_allclose(np.asarray(rows).sum(1), 1.0, atol=1e-6)
  chex.clear_trace_counter()


def test_alphas_scheduled_to_zero_mean_no_mixing_not_nan():
  config = jaxmix.MixConfig(num_classes=4, mixup_alpha=schedules.off_last(0.8, 10, 2),
                            cutmix_alpha=schedules.off_last(1.0, 10, 2))
  out, rows = jax.jit(lambda k, s: jaxmix.mix(k, X, Y, config, step=s))(jax.random.key(0),
                                                                       jnp.int32(9))
  np.testing.assert_array_equal(np.asarray(out), np.asarray(X))
  np.testing.assert_array_equal(np.asarray(rows), np.eye(4)[np.asarray(Y)])
