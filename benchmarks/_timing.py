"""Interleaved timing shared by the benchmarks: rounds, medians, spread, machine load.

Each round calls every candidate once, in an order rotated by one per round, so a
burst of load from another process spreads over all candidates instead of landing
on one. Report the median and the interquartile range (p25–p75) of the rounds.

Inputs are made before the clock starts: `key_list` gives a Python list of keys, so a
timed call indexes a list (tens of ns) instead of slicing a key array (an eager op with
its own dispatch, ~0.3 ms on CPU, which earlier tables timed as part of every op).
`dispatch` and `noop` are the baselines: a jitted call with no arguments, and a jitted
call that takes the op's arguments and computes nothing, so op − no-op is the op's own
(device) time and no-op − dispatch the cost of passing its arguments.
"""

import datetime
import os
import platform
import statistics
import time
from typing import Callable

import jax
import jax.numpy as jnp


def interleaved(candidates: dict[str, Callable[[int], None]], rounds: int,
                warmup: int = 2) -> tuple[dict[str, list[float]], dict[str, str]]:
  """Times `call(i)` (which must block until its result exists) round by round.

  Returns:
    (seconds per name, error per name): a candidate that raises during warm-up is
    dropped with its one-line error, so one broken peer does not stop the run.
  """
  errors = {}
  live = {}
  for name, call in candidates.items():
    try:
      for i in range(warmup):
        call(i)
      live[name] = call
    except Exception as e:  # a peer that cannot run this dtype/shape: report, go on
      errors[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
  times = {name: [] for name in live}
  names = list(live)
  for r in range(rounds):
    shift = r % max(len(names), 1)
    for name in names[shift:] + names[:shift]:
      start = time.perf_counter()
      live[name](warmup + r)
      times[name].append(time.perf_counter() - start)
  return times, errors


def key_list(n: int, seed: int = 0) -> list:
  """`n` PRNG keys as a Python list, each its own array: made once, before timing."""
  keys = jax.random.split(jax.random.key(seed), n)
  return [keys[i] for i in range(n)]


def named_jit(fn: Callable, name: str, **jit_kwargs) -> Callable:
  """`jax.jit(fn)` whose compiled module is `jit_<name>` (what a profiler trace shows)."""
  def wrapped(*args, **kwargs):
    return fn(*args, **kwargs)
  wrapped.__name__ = wrapped.__qualname__ = "".join(
      ch if ch.isalnum() else "_" for ch in name)
  return jax.jit(wrapped, **jit_kwargs)


# Baselines timed beside the ops (see the module docstring).
dispatch = named_jit(lambda: jnp.zeros((), jnp.int32), "dispatch")
noop = named_jit(lambda *args: jnp.zeros((), jnp.int32), "noop", keep_unused=True)


def quartiles(samples: list[float]) -> tuple[float, float, float]:
  """(p25, median, p75); with fewer than 2 samples all three are the one value."""
  if len(samples) < 2:
    return (samples[0],) * 3
  q = statistics.quantiles(samples, n=4, method="inclusive")
  return q[0], statistics.median(samples), q[2]


def load_average() -> str:
  try:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())
  except OSError:
    return "n/a"


def machine() -> str:
  """One line: date (UTC), CPU count, load, Python; for the header of every table."""
  now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
  return (f"{now}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load {load_average()}, Python {platform.python_version()}")
