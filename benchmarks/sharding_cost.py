"""Collectives each op adds when the batch is sharded over 8 (simulated) devices.

Compiles every op × mode × partner with the batch sharded along a "data" mesh axis
and counts the collectives in the optimized HLO: with shard-local partners
(`num_shards=8`) none should appear; a global pairing (`num_shards=1`) needs the
partner images from other devices. Also times each (on 8 simulated CPU devices
sharing this machine's cores the times show the extra work and copies, not a
real interconnect).

  python -m benchmarks.sharding_cost            (sets 8 host devices itself)
  python -m benchmarks.sharding_cost --shape 256x32x32x3 --rounds 5
"""

import argparse
import os
import re

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # noqa: E402
import numpy as np  # noqa: E402

import jaxmix  # noqa: E402
from benchmarks import _timing  # noqa: E402

COLLECTIVES = ("all-gather", "all-reduce", "collective-permute", "all-to-all",
               "reduce-scatter")


def count_collectives(hlo: str) -> dict:
  counts = {}
  for name in COLLECTIVES:
    n = len(re.findall(rf"= [^=]*\b{name}(-start)?\(", hlo))
    if n:
      counts[name] = n
  return counts


def ops(num_classes, num_shards):
  out = {}
  for mode in ("batch", "pair", "elem"):
    for partner in ("flip", "roll", "permute"):
      if mode == "pair" and partner != "flip":
        continue
      out[f"cutmix {mode} {partner}"] = (
          lambda k, x, y, mode=mode, partner=partner: jaxmix.cutmix(
              k, x, y, num_classes=num_classes, mode=mode, partner=partner,
              num_shards=num_shards))
  for partner in ("flip", "permute"):
    out[f"mixup elem {partner}"] = (
        lambda k, x, y, partner=partner: jaxmix.mixup(
            k, x, y, num_classes=num_classes, mode="elem", partner=partner,
            num_shards=num_shards))
  import inspect
  if "method" in inspect.signature(jaxmix.cutmix).parameters:
    for partner in ("flip", "permute"):
      out[f"cutmix elem {partner}, method=patch"] = (
          lambda k, x, y, partner=partner: jaxmix.cutmix(
              k, x, y, num_classes=num_classes, mode="elem", partner=partner,
              num_shards=num_shards, method="patch"))
  out["cutout elem"] = lambda k, x, y: (jaxmix.cutout(k, x, size=x.shape[1] // 2), y)
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--shape", default="256x32x32x3")
  parser.add_argument("--rounds", type=int, default=5)
  args = parser.parse_args()
  shape = tuple(int(s) for s in args.shape.split("x"))
  devices = jax.devices()
  mesh = Mesh(np.array(devices), ("data",))
  data, replicated = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
  rng = np.random.default_rng(0)
  x = jax.device_put(rng.random(shape, dtype=np.float32), data)
  y = jax.device_put(rng.integers(0, 10, shape[0]).astype(np.int32), data)
  keys = _timing.key_list(64)  # a list: indexing it inside a timed call is free
  print(f"{len(devices)} devices ({devices[0].device_kind}), batch {args.shape} float32 "
        f"sharded on 'data'; {_timing.machine()}")
  rows, calls = [], {}
  for num_shards in (len(devices), 1):
    for name, op in ops(10, num_shards).items():
      fn = jax.jit(op, in_shardings=(replicated, data, data), out_shardings=(data, data))
      hlo = fn.lower(keys[0], x, y).compile().as_text()
      label = f"{name}, num_shards={num_shards}"
      rows.append((label, count_collectives(hlo)))
      calls[label] = lambda i, fn=fn: jax.block_until_ready(fn(keys[i % 64], x, y))
  times, errors = _timing.interleaved(calls, args.rounds)
  print("\n| op, partners | collectives in the compiled step | ms (median) | p25–p75 |")
  print("| --- | --- | ---: | ---: |")
  for label, counts in rows:
    lo, med, hi = _timing.quartiles(times[label]) if label in times else (0, 0, 0)
    text = ", ".join(f"{k} ×{v}" for k, v in counts.items()) or "none"
    print(f"| {label} | {text} | {med * 1e3:.2f} | {lo * 1e3:.2f}–{hi * 1e3:.2f} |")
  for label, why in errors.items():
    print(f"| {label} | failed: {why} | | |")


if __name__ == "__main__":
  main()
