"""Schedules of the mixing probability and α: functions of the training step (optax-style).

Each constructor returns `schedule(step) -> float32 scalar`, made of jnp ops only,
so `step` may be a traced array: a jitted train step that evaluates
`schedule(step)` compiles once, whatever the step. Combine them with `join` or by
multiplying their values (e.g. `warmup(step) * off_last(step)`).
"""

from typing import Callable

import jax
import jax.numpy as jnp

from jaxmix._src import _checks

Schedule = Callable[[jax.Array], jax.Array]


def _step(step) -> jax.Array:
  return jnp.asarray(step, jnp.float32)


def constant(value: float) -> Schedule:
  """value at every step."""
  _checks.check_finite("value", value)
  return lambda step: jnp.full((), value, jnp.float32) + 0.0 * _step(step)


def linear_warmup(value: float, warmup_steps: int, start: float = 0.0) -> Schedule:
  """From `start` at step 0 linearly to `value` at `warmup_steps`, then `value`."""
  warmup_steps = _checks.static_int("warmup_steps", warmup_steps, minimum=1)
  _checks.check_finite("value", value)
  _checks.check_finite("start", start)

  def schedule(step):
    frac = jnp.clip(_step(step) / warmup_steps, 0.0, 1.0)
    return jnp.float32(start) + frac * (value - start)
  return schedule


def cosine(value: float, total_steps: int, end: float = 0.0) -> Schedule:
  """Cosine from `value` at step 0 to `end` at `total_steps` (then `end`)."""
  total_steps = _checks.static_int("total_steps", total_steps, minimum=1)
  _checks.check_finite("value", value)
  _checks.check_finite("end", end)

  def schedule(step):
    frac = jnp.clip(_step(step) / total_steps, 0.0, 1.0)
    return jnp.float32(end) + (value - end) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
  return schedule


def off_last(value, total_steps: int, off_steps: int) -> Schedule:
  """`value` (a number or a schedule) until `total_steps − off_steps`, then 0.

  Switching mixing off for the last K steps lets the model fit clean images at
  the end (hlb-CIFAR10; a remedy when aggressive mixing hurts).
  """
  total_steps = _checks.static_int("total_steps", total_steps, minimum=1)
  off_steps = _checks.static_int("off_steps", off_steps, minimum=0)
  if off_steps > total_steps:
    raise ValueError(f"off_steps must be <= total_steps={total_steps}, got {off_steps}")
  inner = value if callable(value) else constant(value)

  def schedule(step):
    return jnp.where(_step(step) < total_steps - off_steps, inner(step), 0.0)
  return schedule


def join(schedules: list[Schedule], boundaries: list[int]) -> Schedule:
  """`schedules[i]` on [boundaries[i−1], boundaries[i]); each sees the global step.

  `boundaries` must be finite and sorted (equal ones give an empty segment).
  """
  boundaries = list(boundaries)
  _checks.check_sorted("boundaries", boundaries)
  if not all(callable(s) for s in schedules):
    raise TypeError("schedules must be callables step -> value (e.g. schedules.constant(0.5))")
  if len(schedules) != len(boundaries) + 1:
    raise ValueError(f"join needs one more schedule than boundaries, got {len(schedules)} "
                     f"schedules and {len(boundaries)} boundaries")

  def schedule(step):
    index = jnp.searchsorted(jnp.asarray(boundaries, jnp.float32), _step(step), side="right")
    return jax.lax.switch(index, [lambda s=s: jnp.asarray(s(step), jnp.float32)
                                  for s in schedules])
  return schedule
