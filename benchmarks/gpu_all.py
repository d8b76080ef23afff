"""Every GPU measurement of issue 16 in one prepared call (also runs on a CPU with --smoke).

For each shape and dtype (float32, bfloat16, uint8; 256×32² … 1024×224²), interleaved
rounds of:
  - baselines: `dispatch` (jitted, no arguments), `no-op` (jitted, the op's arguments,
    computes nothing), `-x` into a fresh buffer and donated (the device's memory
    ceiling: BW = 2·bytes / time), on a CPU `np.copyto` into a reused buffer, and the
    eager `keys[i]` slice that earlier versions of this table timed inside every op;
  - the ops: cutmix, mixup, `mix` (batch and elem), cutout, and cutmix's in-place patch
    path with the batch donated.
Keys are a Python list made before timing (`_timing.key_list`). The table gives the
median and p25–p75 per call, op − no-op (the op's own time: the no-op pays the same
dispatch and argument handling) and the mask-path floor 3·bytes / BW as a percentage
(floor / (op − no-op)). Then a profiler trace of the same calls gives kernels per call
and their summed device time (`benchmarks._trace`). Last, CutMix's share of a real train
step: ResNet-50 at 224 px in bf16 and airbench at 32 px (`benchmarks.train_speed`).

  python -m benchmarks.gpu_all --out $OUT/bench    # one H200, ≤ 8 minutes
  python -m benchmarks.gpu_all --trace 20 --no_train   # op tables, more traced calls
  JAX_PLATFORMS=cpu python -m benchmarks.gpu_all --smoke   # tiny shapes, < 1 minute
Prints each table as it finishes (elapsed time in its header); with --out, a JSON of
every sample goes there too.
"""

import argparse
import functools
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxmix
from benchmarks import _timing
from benchmarks import _trace
from benchmarks import train_speed

START = time.perf_counter()


def _ops(num_classes):
  c = functools.partial
  ops = {}
  for m in ("batch", "elem"):
    ops[f"cutmix {m}"] = c(jaxmix.cutmix, num_classes=num_classes, mode=m)
    ops[f"mixup {m}"] = c(jaxmix.mixup, num_classes=num_classes, mode=m)
    config = jaxmix.MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=num_classes,
                              mode=m)
    ops[f"mix {m}"] = c(jaxmix.mix, config=config)
  ops["cutout elem"] = lambda k, x, y: (jaxmix.cutout(k, x, size=x.shape[1] // 2), y)
  return ops


def op_table(shape, dtype, rounds, reps, trace_calls):
  rng = np.random.default_rng(0)
  x_np = rng.random(shape, dtype=np.float32).astype(dtype)
  x = jnp.asarray(x_np)
  y = jnp.asarray(rng.integers(0, 1000, shape[0]), jnp.int32)
  nbytes = x.size * x.dtype.itemsize
  warmup = 2
  keys = _timing.key_list((rounds + warmup) * reps + trace_calls)
  on_cpu = jax.devices()[0].platform == "cpu"

  # name -> call(i): one call on key i, blocking on its result; jit module of each.
  once, modules = {}, {}
  if on_cpu:  # the host's physical floor; on a GPU it would time the host, not the device
    dst = np.empty_like(x_np)
    once["floor: np.copyto (reused buffer)"] = lambda i: np.copyto(dst, x_np)
  once["dispatch: jit() -> 0"] = lambda i: _timing.dispatch().block_until_ready()
  modules["dispatch: jit() -> 0"] = "jit_dispatch"
  once["no-op: jit(key, x, y) -> 0"] = lambda i: _timing.noop(keys[i], x, y).block_until_ready()
  modules["no-op: jit(key, x, y) -> 0"] = "jit_noop"
  # What the tables before issue 16 timed inside every op's call: an eager key slice.
  key_array = jax.random.split(jax.random.key(1), len(keys))
  once["eager key slice keys[i] (was in the timed region)"] = (
      lambda i: key_array[i].block_until_ready())
  neg = _timing.named_jit(lambda a: -a, "neg")
  once["-x (fresh output)"] = lambda i: neg(x).block_until_ready()
  modules["-x (fresh output)"] = "jit_neg"
  neg_donated = _timing.named_jit(lambda a: -a, "neg_donated", donate_argnums=0)
  neg_state = {"x": jnp.asarray(x_np)}

  def neg_inplace(i):
    neg_state["x"] = neg_donated(neg_state["x"])
    neg_state["x"].block_until_ready()
  once["-x (donated)"] = neg_inplace
  modules["-x (donated)"] = "jit_neg_donated"
  for name, op in _ops(1000).items():
    fn = _timing.named_jit(op, name)
    once[name] = lambda i, fn=fn: jax.block_until_ready(fn(keys[i], x, y))
    modules[name] = _module(name)
  for mode in ("batch", "elem"):
    name = f"cutmix {mode} patch, donated"
    fn = _timing.named_jit(functools.partial(jaxmix.cutmix, num_classes=1000, mode=mode,
                                             method="patch"), name, donate_argnums=1)
    state = {"x": jnp.asarray(x_np)}

    def patch(i, fn=fn, state=state):
      state["x"], _ = fn(keys[i], state["x"], y)
      state["x"].block_until_ready()
    once[name] = patch
    modules[name] = _module(name)
  # One timed sample = `reps` calls on keys i·reps … i·reps + reps − 1.
  calls = {name: (lambda i, f=f: [f(i * reps + j) for j in range(reps)])
           for name, f in once.items()}
  times, errors = _timing.interleaved(calls, rounds, warmup=warmup)
  per_call = {k: [t / reps for t in v] for k, v in times.items()}
  copy = _timing.quartiles(per_call["-x (donated)"])[1]
  bandwidth = 2 * nbytes / copy
  floor = 3 * nbytes / bandwidth
  noop = _timing.quartiles(per_call["no-op: jit(key, x, y) -> 0"])[1]
  traced = {}
  if trace_calls:
    offset = (rounds + warmup) * reps  # keys no timed call used
    live = {n: (modules[n], lambda i, f=once[n]: f(offset + i))
            for n in modules if n in per_call}
    try:
      traced = _trace.per_call(live, trace_calls)
    except Exception as e:  # a profiler that cannot run here: say so, keep the timings
      errors["trace"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
  lines = [f"\n### {'x'.join(map(str, shape))} {np.dtype(dtype).name} on "
           f"{jax.devices()[0].device_kind} ({_timing.machine()}; {time.perf_counter() - START:.0f} s "
           f"into the run; {rounds} interleaved rounds x {reps} calls)",
           f"achieved bandwidth (-x donated): {bandwidth / 1e9:.1f} GB/s; mask-mix floor "
           f"3·bytes/BW = {floor * 1e3:.3f} ms; no-op = {noop * 1e3:.3f} ms", "",
           "| candidate | ms (median) | p25–p75 | op − no-op ms | floor / (op − no-op) "
           "| kernels/call (trace) | busy ms/call (trace) |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
  for name, v in per_call.items():
    lo, med, hi = _timing.quartiles(v)
    own = med - noop
    baseline = name.startswith(("floor", "dispatch", "no-op", "-x", "eager"))
    pct = "" if baseline else (f"{floor / own * 100:.0f}%" if own > 0 else "n/a")
    tr = traced.get(name)
    tcols = (f"{tr['kernels']:.1f} | {tr['busy_s'] * 1e3:.3f}" if tr else " | ")
    lines.append(f"| {name} | {med * 1e3:.3f} | {lo * 1e3:.3f}–{hi * 1e3:.3f} | "
                 f"{own * 1e3:.3f} | {pct} | {tcols} |")
  for name, why in errors.items():
    lines.append(f"| {name} | skipped: {why} | | | | | |")
  return "\n".join(lines), {"seconds": per_call, "bandwidth": bandwidth, "floor": floor,
                            "noop": noop, "trace": traced, "errors": errors}


def _module(name: str) -> str:
  """The compiled module name `_timing.named_jit(fn, name)` gets."""
  return "jit_" + "".join(ch if ch.isalnum() else "_" for ch in name)


def train_tables(smoke: bool):
  """CutMix's share of a train step: overhead of the step with it vs without."""
  runs = ([dict(model="resnet_small", image=16, batch=8, steps=1, rounds=2, bf16=False,
                model_kwargs='{"width": 4}', mix="none,cutmix")] if smoke else
          [dict(model="airbench", image=32, batch=512, steps=5, rounds=7, bf16=True,
                model_kwargs="{}", mix="none,cutmix,mixup"),
           dict(model="resnet50", image=224, batch=128, steps=3, rounds=5, bf16=True,
                model_kwargs="{}", mix="none,cutmix")])
  out, texts = [], []
  for r in runs:
    args = argparse.Namespace(**r, epoch=False, xla_options="default", json=None)
    times, errors, extra = train_speed.run(args)
    text, summary = train_speed.report(args, times, errors, extra)
    texts.append(text + f"\n({time.perf_counter() - START:.0f} s into the run)")
    print(texts[-1], flush=True)
    out.append({"args": r, "summary": summary})
  return "\n".join(texts), out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--smoke", action="store_true", help="tiny shapes (CPU check)")
  parser.add_argument("--no_train", action="store_true", help="skip the train-step tables")
  parser.add_argument("--trace", type=int, default=None, metavar="CALLS",
                      help="profiler-traced calls per op for the kernel and device-time "
                      "columns (default 10, 2 with --smoke; 0: no trace)")
  parser.add_argument("--out", default=None)
  parser.add_argument("--budget_s", type=float, default=420,
                      help="start no new table after this many seconds (the lease is 8 min)")
  args = parser.parse_args()
  print(f"jax {jax.__version__}, {jax.device_count()} x {jax.devices()[0].device_kind}",
        flush=True)
  if args.smoke:
    # One dtype: compiling is most of a smoke run (~30 s of CPU time for the table).
    shapes, rounds, reps, trace_calls = [(16, 32, 32, 3)], 3, 2, 2
    dtypes = (np.float32,)
  else:
    shapes, rounds, reps, trace_calls = [(256, 32, 32, 3), (128, 224, 224, 3),
                                         (1024, 224, 224, 3)], 15, 10, 10
    dtypes = (np.float32, jnp.bfloat16, np.uint8)
  if args.trace is not None:
    trace_calls = args.trace
  results = {}

  def save():
    if args.out:
      os.makedirs(args.out, exist_ok=True)
      with open(os.path.join(args.out, "gpu_all.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)

  # float32 first, then the train step (never measured before), then the other dtypes.
  def over_budget(what):
    late = time.perf_counter() - START > args.budget_s
    if late:
      print(f"\nskipped {what}: past --budget_s {args.budget_s:.0f} s", flush=True)
    return late

  for i, dtype in enumerate(dtypes):
    for shape in shapes:
      if over_budget(f"{shape} {np.dtype(dtype).name}"):
        continue
      text, res = op_table(shape, dtype, rounds, reps, trace_calls)
      print(text, flush=True)
      results[f"{shape} {np.dtype(dtype).name}"] = res
      save()
    if i == 0 and not args.no_train and not over_budget("the train-step tables"):
      _, results["train"] = train_tables(args.smoke)
      save()
  print(f"\ndone in {time.perf_counter() - START:.0f} s", flush=True)


if __name__ == "__main__":
  main()
