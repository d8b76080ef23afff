"""CutMix's two paste methods on this machine: the mask path against the patch path.

What `method="auto"` should pick on a CPU is decided by this table (it picks "mask" on
every backend; docs/speed.md says why). One interleaved run (`benchmarks._timing`):
each round calls every candidate of a (shape, dtype) once, order rotated; median and
p25–p75 of the rounds, and the ratio to `np.copyto` of the batch into a reused buffer
(the floor of any op that writes a batch). Keys are made before timing (a list).

Candidates, for batch mode (one box) and elem mode (one box per sample), flip partners:
- `method="mask"`, the batch not donated (what `method="auto"` sees in most calls) and
  donated;
- `method="patch"` (on a CPU the row loop, `paste.paste_rows`), not donated (XLA copies
  the batch first) and donated (rewritten in place).

  JAX_PLATFORMS=cpu python -m benchmarks.paste_speed --rounds 9 > docs/bench/paste_speed_cpu.txt

`--h100` instead compiles `method="patch"` for XLA's H100 target without a GPU
(`benchmarks.kernel_count`, needs the `gpu-compile` extra) and prints the kernels per
call, donated and not, for each partner kind: what the Pallas kernel replaced the row
loop with, while no GPU is at hand to time it.

  JAX_PLATFORMS=cpu python -m benchmarks.paste_speed --h100 > docs/bench/paste_kernel_h100.txt
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


def candidates(x_np: np.ndarray, keys: list, modes=("batch", "elem")) -> dict:
  dst = np.empty_like(x_np)
  labels = jnp.zeros(x_np.shape[:1], jnp.int32)
  src = jnp.asarray(x_np)
  out = {"floor: np.copyto (reused buffer)": lambda i: np.copyto(dst, x_np),
         "no-op: jitted (key, x, y) -> 0": lambda i: _block(_timing.noop(keys[i], src, labels))}
  for mode in modes:
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


def h100_table() -> str:
  from benchmarks import kernel_count
  device = kernel_count.h100_device()
  sharding = jax.sharding.SingleDeviceSharding(device)
  lines = [f"`method=\"patch\"` compiled for {device.device_kind} (XLA:GPU AOT, no GPU), "
           f"jax {jax.__version__}, {_timing.machine()}", "",
           "| op | partner | shape, dtype | batch donated | kernels | while loops | "
           "host transfers | kernel kinds |", "| --- | --- | --- | --- | ---: | ---: | ---: | --- |"]
  key = jax.random.key(0)
  for mode in ("batch", "elem"):
    for partner in ("flip", "roll", "permute"):
      for shape, dtype in ((SHAPES[0], jnp.float32), (SHAPES[1], jnp.bfloat16),
                           (SHAPES[1], jnp.uint8)):
        op = functools.partial(jaxmix.cutmix, num_classes=NUM_CLASSES, mode=mode,
                               partner=partner, method="patch")
        specs = [jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding) for a in (
            key, jax.ShapeDtypeStruct(shape, dtype), jax.ShapeDtypeStruct(shape[:1], jnp.int32))]
        for donate in ((1,), ()):
          text = jax.jit(op, donate_argnums=donate).trace(*specs).lower().compile().as_text()
          s = kernel_count.parse_hlo(text)
          kinds = ", ".join(f"{k} {v}" for k, v in s.kinds.items())
          lines.append(f"| cutmix {mode} | {partner} | {'x'.join(map(str, shape))} "
                       f"{jnp.dtype(dtype).name} | {'yes' if donate else 'no'} | {s.kernels} | "
                       f"{s.while_loops} | {s.host_transfers} | {kinds} |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=9)
  parser.add_argument("--dtypes", default=",".join(DTYPES))
  parser.add_argument("--modes", default="batch,elem")
  parser.add_argument("--h100", action="store_true",
                      help="print kernels per call on the H100 target instead of timing")
  args = parser.parse_args()
  if args.h100:
    print(h100_table())
    return
  print(f"CutMix mask vs patch on {jax.devices()[0].platform} (jax {jax.__version__}); "
        f"ms per call, flip partners, {NUM_CLASSES} classes, integer labels.")
  rng = np.random.default_rng(0)
  for shape in SHAPES:
    for dtype_name in args.dtypes.split(","):
      dtype = DTYPES[dtype_name]
      x_np = (rng.integers(0, 256, shape).astype(dtype) if dtype == np.uint8
              else rng.standard_normal(shape).astype(np.float32).astype(dtype))
      keys = _timing.key_list(args.rounds + 2, seed=1)
      times, errors = _timing.interleaved(
          candidates(x_np, keys, args.modes.split(",")), args.rounds)
      print(table(shape, dtype_name, times, errors, args.rounds), flush=True)


if __name__ == "__main__":
  main()
