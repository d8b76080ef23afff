"""Every GPU measurement of the speed issue in one call (also runs on a CPU with --smoke).

1. Memory ceiling: a large device-to-device pass (`-x` into a fresh buffer, read once,
   written once) gives the achieved bandwidth BW = 2·bytes / time.
2. Mask-path floor: a mask mix reads the batch and its partner and writes the result,
   3·bytes, so its floor is 3·bytes / BW; each op's "% of floor" = floor / time
   (target ≥ 85%).
3. Patch path (`cutmix(method="patch")`, batch donated): the row loop touches only the
   covered rows in place, so it can run under the mask floor; listed with its ratio.
4. Train-step overhead of each mix (resnet18 at 32×32 and ResNet-50 at 224×224 bf16),
   through `benchmarks.train_speed` (interleaved rounds, overhead median and IQR).

  python -m benchmarks.gpu_all                 # on the GPU machine, one call
  JAX_PLATFORMS=cpu python -m benchmarks.gpu_all --smoke   # tiny shapes, any machine
Writes the tables to stdout and, with --out DIR, a JSON of all samples there.
"""

import argparse
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

import jaxmix
from benchmarks import _timing
from benchmarks import train_speed


def op_table(shape, dtype, rounds, reps):
  rng = np.random.default_rng(0)
  x_np = rng.random(shape, dtype=np.float32).astype(dtype)
  x = jnp.asarray(x_np)
  y = jnp.asarray(rng.integers(0, 1000, shape[0]), jnp.int32)
  nbytes = x.size * x.dtype.itemsize
  keys = jax.random.split(jax.random.key(0), rounds * reps + 16)
  neg = jax.jit(lambda a: -a)
  c = functools.partial
  ops = {f"cutmix {m}": jax.jit(c(jaxmix.cutmix, num_classes=1000, mode=m))
         for m in ("batch", "elem")}
  ops.update({f"mixup {m}": jax.jit(c(jaxmix.mixup, num_classes=1000, mode=m))
              for m in ("batch", "elem")})
  calls = {"-x (fresh output)": lambda i: [jax.block_until_ready(neg(x))
                                           for _ in range(reps)]}
  for name, fn in ops.items():
    calls[name] = lambda i, fn=fn: [jax.block_until_ready(fn(keys[i * reps + j], x, y))
                                    for j in range(reps)]
  for mode in ("batch", "elem"):
    fn = jax.jit(c(jaxmix.cutmix, num_classes=1000, mode=mode, method="patch"),
                 donate_argnums=1)
    state = {"x": jnp.asarray(x_np)}

    def patch(i, fn=fn, state=state):
      for j in range(reps):
        state["x"], _ = fn(keys[i * reps + j], state["x"], y)
      jax.block_until_ready(state["x"])
    calls[f"cutmix {mode} patch, donated"] = patch
  times, errors = _timing.interleaved(calls, rounds)
  per_call = {k: [t / reps for t in v] for k, v in times.items()}
  copy = _timing.quartiles(per_call["-x (fresh output)"])[1]
  bandwidth = 2 * nbytes / copy
  floor = 3 * nbytes / bandwidth
  lines = [f"\n### {'x'.join(map(str, shape))} {np.dtype(dtype).name} on "
           f"{jax.devices()[0].device_kind} ({_timing.machine()})",
           f"achieved bandwidth (-x): {bandwidth / 1e9:.1f} GB/s; mask-mix floor "
           f"3·bytes/BW = {floor * 1e3:.3f} ms", "",
           "| op | ms (median) | p25–p75 | % of mask floor (floor / time) |",
           "| --- | ---: | ---: | ---: |"]
  for name, v in per_call.items():
    lo, med, hi = _timing.quartiles(v)
    lines.append(f"| {name} | {med * 1e3:.3f} | {lo * 1e3:.3f}–{hi * 1e3:.3f} | "
                 f"{floor / med * 100:.0f}% |")
  for name, why in errors.items():
    lines.append(f"| {name} | skipped: {why} | | |")
  return "\n".join(lines), {"seconds": per_call, "bandwidth": bandwidth, "floor": floor}


def train_tables(smoke: bool):
  runs = ([dict(model="resnet_small", image=16, batch=8, steps=1, rounds=2, bf16=False,
                model_kwargs='{"width": 4}')] if smoke else
          [dict(model="resnet18", image=32, batch=256, steps=5, rounds=7, bf16=False,
                model_kwargs="{}"),
           dict(model="resnet50", image=224, batch=128, steps=3, rounds=5, bf16=True,
                model_kwargs="{}")])
  out, texts = [], []
  for r in runs:
    args = argparse.Namespace(**r, mix="none,cutmix,cutmix_patch,mixup", epoch=False,
                              xla_options="default", json=None)
    times, errors, extra = train_speed.run(args)
    text, summary = train_speed.report(args, times, errors, extra)
    texts.append(text)
    out.append({"args": r, "summary": summary})
  return "\n".join(texts), out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--smoke", action="store_true", help="tiny shapes (CPU check)")
  parser.add_argument("--out", default=None)
  args = parser.parse_args()
  print(f"jax {jax.__version__}, {jax.device_count()} x {jax.devices()[0].device_kind}")
  if args.smoke:
    shapes, rounds, reps = [(16, 32, 32, 3)], 3, 2
  else:
    shapes, rounds, reps = [(128, 224, 224, 3), (256, 32, 32, 3), (1024, 224, 224, 3)], 15, 10
  results = {}
  for shape in shapes:
    for dtype in (np.float32, jnp.bfloat16, np.uint8):
      text, res = op_table(shape, dtype, rounds, reps)
      print(text, flush=True)
      results[f"{shape} {np.dtype(dtype).name}"] = res
  text, train = train_tables(args.smoke)
  print(text, flush=True)
  results["train"] = train
  if args.out:
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu_all.json"), "w") as f:
      json.dump(results, f, indent=1, default=str)


if __name__ == "__main__":
  main()
