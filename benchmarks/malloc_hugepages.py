"""Out-of-place ops on a CPU at 224 px: page faults, and glibc's transparent huge pages.

A jitted op that returns a new batch gets a new output buffer from `malloc` on every call.
glibc serves a block above 32 MiB (the largest mmap threshold it allows) with a fresh
`mmap`, so every 4 KiB page of a 128×224×224×3 float32 batch (77 MB, ~19k pages) faults in
and is zeroed on first write, call after call. `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`
makes malloc ask for transparent huge pages (`madvise`, where the kernel allows it:
/sys/kernel/mm/transparent_hugepage/enabled is `madvise` or `always`): 2 MiB pages, ~500× fewer faults.

glibc reads tunables when a process starts, so the two settings cannot share one process.
This script runs the same timing child in alternating processes (default, tunable,
default, ...; `--repeats` each) and reports, per candidate and setting, the median over
processes of each process's median (interleaved rounds inside a process, as every table
here) and its ratio to `np.copyto` into a reused buffer timed in the same process (the
floor; it allocates nothing, so the tunable does not move it). The candidates are
`benchmarks.paste_speed`'s (with its no-op row) plus a jitted `x + x[::-1]`.

  JAX_PLATFORMS=cpu python -m benchmarks.malloc_hugepages [--repeats 4] [--rounds 11]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

TUNABLE = "glibc.malloc.hugetlb=1"
SHAPE = (128, 224, 224, 3)


def child(rounds: int, dtype: str) -> dict:
  """Median seconds per candidate in this process (one interleaved run): `paste_speed`'s
  candidates (floor, no-op, CutMix mask / patch, donated or not) and an out-of-place floor."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from benchmarks import _timing
  from benchmarks import paste_speed
  x_np = (np.random.default_rng(0).random(SHAPE) * 255).astype(dtype)
  keys = _timing.key_list(rounds + 4)
  cands = paste_speed.candidates(x_np, keys)
  src, add = jnp.asarray(x_np), jax.jit(lambda x: x + x[::-1])
  cands["jitted x + x[::-1] (fresh output)"] = lambda i: add(src).block_until_ready()
  times, errors = _timing.interleaved(cands, rounds)
  return {"medians": {n: _timing.quartiles(t)[1] for n, t in times.items()},
          "errors": errors, "machine": _timing.machine()}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=4, help="processes per setting")
  parser.add_argument("--rounds", type=int, default=11)
  parser.add_argument("--dtype", default="float32", choices=("float32", "uint8"))
  parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(child(args.rounds, args.dtype)))
    return
  settings = {"default": "", TUNABLE: TUNABLE}
  runs = {name: [] for name in settings}
  machine = ""
  for r in range(args.repeats):
    order = list(settings) if r % 2 == 0 else list(settings)[::-1]
    for name in order:
      env = dict(os.environ, GLIBC_TUNABLES=settings[name])
      out = subprocess.run([sys.executable, "-m", "benchmarks.malloc_hugepages", "--child",
                            "--rounds", str(args.rounds), "--dtype", args.dtype],
                           env=env, capture_output=True, text=True, check=True)
      result = json.loads(out.stdout.strip().splitlines()[-1])
      runs[name].append(result["medians"])
      machine = machine or result["machine"]
  with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
    thp = f.read().strip()
  print(f"{machine}; transparent_hugepage: {thp}")
  print(f"{'x'.join(map(str, SHAPE))} {args.dtype}: {args.repeats} processes per setting, "
        f"alternating; each process {args.rounds} interleaved rounds. ms = median over "
        "processes of each one's median; × = the same for the ratio to np.copyto.\n")
  names = list(runs["default"][0])
  header = " | ".join(f"{s} ms | {s} ×" for s in settings)
  print(f"| candidate | {header} |\n| --- |" + " ---: |" * (2 * len(settings)))
  for n in names:
    cells = []
    for s in settings:
      ms = statistics.median(run[n] for run in runs[s]) * 1e3
      ratio = statistics.median(run[n] / run["floor: np.copyto (reused buffer)"]
                                for run in runs[s])
      cells.append(f"{ms:.2f} | {ratio:.2f}")
    print(f"| {n} | {' | '.join(cells)} |")


if __name__ == "__main__":
  main()
