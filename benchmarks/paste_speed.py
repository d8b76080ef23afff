"""CutMix's two paste methods on this machine: the mask path against the patch path.

What `method="auto"` should pick on a CPU (`jaxmix._src.paste.PATCH_BACKENDS`,
docs/speed.md) is decided by this table. One interleaved run (`benchmarks._timing`):
each round calls every candidate of a (shape, dtype) once, order rotated; median and
p25–p75 of the rounds, and the ratio to `np.copyto` of the batch into a reused buffer
(the floor of any op that writes a batch). Keys are made before timing (a list).

Candidates, for batch mode (one box) and elem mode (one box per sample), flip partners:
- `method="mask"`, the batch not donated (what `method="auto"` sees in most calls) and
  donated;
- `method="patch"` (on a CPU the row loop, `paste.paste_rows`), not donated (XLA copies
  the batch first) and donated (rewritten in place).

  JAX_PLATFORMS=cpu python -m benchmarks.paste_speed --rounds 9 > docs/bench/paste_speed_cpu.txt
"""

import argparse
import functools

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

import jaxmix
from benchmarks import _timing

SHAPES = ((256, 32, 32, 3), (128, 224, 224, 3))
DTYPES = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16, "uint8": np.uint8}
NUM_CLASSES = 1000


def _block(tree):
  jax.block_until_ready(tree)


def candidates(x_np: np.ndarray, keys: list) -> dict:
  dst = np.empty_like(x_np)
  labels = jnp.zeros(x_np.shape[:1], jnp.int32)
  src = jnp.asarray(x_np)
  out = {"floor: np.copyto (reused buffer)": lambda i: np.copyto(dst, x_np),
         "no-op: jitted (key, x, y) -> 0": lambda i: _block(_timing.noop(keys[i], src, labels))}
  for mode in ("batch", "elem"):
    for method in ("mask", "patch"):
      op = functools.partial(jaxmix.cutmix, num_classes=NUM_CLASSES, mode=mode, method=method)
      kept = jax.jit(op)
      out[f"cutmix {mode} {method}"] = (
          lambda i, fn=kept: _block(fn(keys[i], src, labels)))
      donated, state = jax.jit(op, donate_argnums=1), {"x": jnp.asarray(x_np)}

      def call(i, fn=donated, state=state):  # each call rewrites the previous output
        state["x"], rows = fn(keys[i], state["x"], labels)
        _block((state["x"], rows))
      out[f"cutmix {mode} {method}, donated"] = call
  return out


def table(shape, dtype_name, times, errors, rounds) -> str:
  copy = _timing.quartiles(times["floor: np.copyto (reused buffer)"])[1]
  lines = [f"\n### {'x'.join(map(str, shape))} {dtype_name}: median of {rounds} "
           f"interleaved rounds ({_timing.machine()})", "",
           "| candidate | ms (median) | p25–p75 | × np.copyto |", "| --- | ---: | ---: | ---: |"]
  for name, samples in times.items():
    lo, med, hi = (1e3 * v for v in _timing.quartiles(samples))
    lines.append(f"| {name} | {med:.3g} | {lo:.3g}–{hi:.3g} | {med / 1e3 / copy:.2f} |")
  lines += [f"| {name} | skipped: {why} | | |" for name, why in errors.items()]
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=9)
  parser.add_argument("--dtypes", default=",".join(DTYPES))
  args = parser.parse_args()
  print(f"CutMix mask vs patch on {jax.devices()[0].platform} (jax {jax.__version__}); "
        f"ms per call, flip partners, {NUM_CLASSES} classes, integer labels.")
  rng = np.random.default_rng(0)
  for shape in SHAPES:
    for dtype_name in args.dtypes.split(","):
      dtype = DTYPES[dtype_name]
      x_np = (rng.integers(0, 256, shape).astype(dtype) if dtype == np.uint8
              else rng.standard_normal(shape).astype(np.float32).astype(dtype))
      keys = _timing.key_list(args.rounds + 2, seed=1)
      times, errors = _timing.interleaved(candidates(x_np, keys), args.rounds)
      print(table(shape, dtype_name, times, errors, args.rounds), flush=True)


if __name__ == "__main__":
  main()
