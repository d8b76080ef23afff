"""Speed of every mixing op and mode, next to a plain on-device pass over the batch.

For each batch shape it times (median of jitted calls, after warm-up):
- copy: `-x`, one elementwise pass over the batch (reads it once, writes it once);
- every op / mode, and prints ms per call, effective GB/s (2 × batch bytes / time,
  the bytes a copy moves) and the ratio of its time to the copy's.
A mask-based mix reads the image and its partner and writes the output, ~3 ×
the batch bytes where a copy moves 2 ×, so ~1.5 × the copy is its floor.

Usage: python benchmarks/mix_speed.py [--reps 20] [--shapes 256x32x32x3,128x224x224x3]
"""

import argparse
import functools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxmix


def _ops(num_classes: int):
  c = functools.partial
  return {
      "cutmix batch": c(jaxmix.cutmix, num_classes=num_classes, mode="batch"),
      "cutmix pair": c(jaxmix.cutmix, num_classes=num_classes, mode="pair"),
      "cutmix elem": c(jaxmix.cutmix, num_classes=num_classes, mode="elem"),
      "cutmix elem permute": c(jaxmix.cutmix, num_classes=num_classes, mode="elem",
                               partner="permute"),
      "mixup batch": c(jaxmix.mixup, num_classes=num_classes, mode="batch"),
      "mixup elem": c(jaxmix.mixup, num_classes=num_classes, mode="elem"),
      "cutout elem": lambda k, x, y: jaxmix.cutout(k, x, size=x.shape[1] // 2),
      "random_erasing": lambda k, x, y: jaxmix.random_erasing(k, x, prob=1.0),
      "mix (timm policy) batch": lambda k, x, y: jaxmix.mix(k, x, y, jaxmix.MixConfig(
          num_classes=num_classes, mixup_alpha=0.8, cutmix_alpha=1.0, mode="batch")),
      "mix (timm policy) elem": lambda k, x, y: jaxmix.mix(k, x, y, jaxmix.MixConfig(
          num_classes=num_classes, mixup_alpha=0.8, cutmix_alpha=1.0, mode="elem")),
  }


def _time(fn, args_per_call, reps: int) -> float:
  """Median seconds per call; each call gets its own key so nothing is reused."""
  jax.block_until_ready(fn(*args_per_call(0)))
  jax.block_until_ready(fn(*args_per_call(1)))
  times = []
  for i in range(reps):
    args = args_per_call(i + 2)
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def run(shape, reps: int, num_classes: int = 1000):
  rng = np.random.RandomState(0)
  images = jax.device_put(jnp.asarray(rng.rand(*shape), jnp.float32))
  labels = jax.device_put(jnp.asarray(rng.randint(0, num_classes, shape[0]), jnp.int32))
  keys = jax.random.split(jax.random.key(0), reps + 2)
  nbytes = images.size * images.dtype.itemsize
  copy = jax.jit(lambda x: -x)
  copy_s = _time(copy, lambda i: (images,), reps)
  rows = [("copy (-x)", copy_s)]
  for name, op in _ops(num_classes).items():
    fn = jax.jit(op)
    rows.append((name, _time(fn, lambda i: (keys[i], images, labels), reps)))
  print(f"\nbatch {'x'.join(map(str, shape))} float32 ({nbytes / 2**20:.0f} MiB), "
        f"device {jax.devices()[0].device_kind}, median of {reps}")
  print(f"| {'op':<26} | {'ms/call':>9} | {'GB/s':>7} | {'× copy':>7} |")
  print(f"|{'-' * 28}|{'-' * 11}|{'-' * 9}|{'-' * 9}|")
  for name, seconds in rows:
    print(f"| {name:<26} | {seconds * 1e3:9.2f} | {2 * nbytes / seconds / 1e9:7.2f} | "
          f"{seconds / copy_s:7.2f} |")
  return {name: s / copy_s for name, s in rows}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--reps", type=int, default=20)
  parser.add_argument("--shapes", default="256x32x32x3,128x224x224x3")
  args = parser.parse_args()
  print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} device(s)")
  for spec in args.shapes.split(","):
    ratios = run(tuple(int(s) for s in spec.split("x")), args.reps)
    if spec == "128x224x224x3":
      target = ratios["cutmix elem"]
      print(f"target: per-sample CutMix at 128x224x224x3 <= 2.0 x copy: {target:.2f} x "
            f"({'met' if target <= 2.0 else 'NOT met'})")


if __name__ == "__main__":
  main()
