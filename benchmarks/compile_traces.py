"""Compile time and number of traces of every jaxmix op under `jax.jit`.

Each op is jitted once and called with 6 different keys and 3 different α (passed
as traced arrays, as a schedule would): a well-behaved op traces once. Compile time
is lowering + XLA compilation of the first call, median over `--rounds` fresh jits.

  python -m benchmarks.compile_traces [--shape 128x32x32x3] [--rounds 3]
"""

import argparse
import collections
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxmix
from benchmarks import _timing


def ops(num_classes):
  out = {}
  for mode in ("batch", "pair", "elem"):
    out[f"cutmix {mode}"] = lambda k, x, y, a, mode=mode: jaxmix.cutmix(
        k, x, y, alpha=a, num_classes=num_classes, mode=mode)
    out[f"mixup {mode}"] = lambda k, x, y, a, mode=mode: jaxmix.mixup(
        k, x, y, alpha=a, num_classes=num_classes, mode=mode)
  out["cutmix elem, method=patch"] = lambda k, x, y, a: jaxmix.cutmix(
      k, x, y, alpha=a, num_classes=num_classes, mode="elem", method="patch")
  out["cutout elem"] = lambda k, x, y, a: jaxmix.cutout(k, x, size=x.shape[1] // 2)
  out["random_erasing"] = lambda k, x, y, a: jaxmix.random_erasing(k, x, prob=1.0)
  out["mix (timm policy) elem"] = lambda k, x, y, a: jaxmix.mix(
      k, x, y, jaxmix.MixConfig(num_classes=num_classes, mode="elem"))
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--shape", default="128x32x32x3")
  parser.add_argument("--rounds", type=int, default=3)
  args = parser.parse_args()
  shape = tuple(int(s) for s in args.shape.split("x"))
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.random(shape, dtype=np.float32))
  y = jnp.asarray(rng.integers(0, 10, shape[0]), jnp.int32)
  keys = jax.random.split(jax.random.key(0), 6)
  print(f"jax {jax.__version__}, batch {args.shape} float32; {_timing.machine()}")
  print("\n| op | compile s (median) | traces over 6 keys × 3 α |\n| --- | ---: | ---: |")
  for name, op in ops(10).items():
    traces = collections.Counter()

    def counted_fn(op=op):  # a fresh function each time: jit caches traces per function
      def counted(k, x, y, a):
        traces["n"] += 1  # runs only while tracing
        return op(k, x, y, a)
      return counted

    try:
      compile_s = []
      for _ in range(args.rounds):
        t = time.perf_counter()
        jax.jit(counted_fn()).lower(keys[0], x, y, jnp.float32(1.0)).compile()
        compile_s.append(time.perf_counter() - t)
      traces.clear()
      fn = jax.jit(counted_fn())
      for k in keys:
        for a in (0.2, 1.0, 2.0):
          jax.block_until_ready(fn(k, x, y, jnp.float32(a)))
      print(f"| {name} | {statistics.median(compile_s):.2f} | {traces['n']} |")
    except Exception as e:  # an op this jaxmix lacks: say so, go on
      print(f"| {name} | failed: {type(e).__name__}: {str(e).splitlines()[0][:80]} | |")


if __name__ == "__main__":
  main()
