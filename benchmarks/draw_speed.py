"""Speed of the per-sample (elem) CutMix draws, before and after the one-pass draws.

Issue 16's CPU target for per-sample CutMix at 256×32×32×3 float32 is ≤ 2 × `np.copyto`
of the batch; the draws alone must fit well inside that. Each candidate is jitted and
timed in interleaved rounds (`benchmarks/_timing.py`): each round calls each candidate
`--inner` times (one call is tens of µs, below the timer's noise on a loaded machine); the
table gives the median per call, the interquartile range, and the ratio to the median
`np.copyto` of the float32 batch into a reused buffer, timed in the same rounds.

Rows: the draws now (one hash pass, `mixing.draw`), the draws as they were before
(`benchmarks/draws_before.py`: a key split per sample, two Gammas, a second hash for the
centre), batch mode's one draw, the pixel pass alone on fixed per-sample boxes in the two
layouts `boxes.where_box` picks from (CPU: [B, H, W·C] rows; elsewhere NHWC), and the whole op
(`jaxmix.cutmix`, elem, mask path). Beside `np.copyto`, the floor of an out-of-place op: a
jitted `x + x[::-1]` reads the batch twice and writes a new one, the traffic of the select,
with nothing drawn; on a CPU much of its time is the fresh output buffer.

Usage: JAX_PLATFORMS=cpu python -m benchmarks.draw_speed [--batch 256] [--size 32]
       [--rounds 15] [--inner 20] [--alpha 1.0]
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import jaxmix
from benchmarks import _timing
from benchmarks import draws_before
from jaxmix._src import boxes
from jaxmix._src import cutmix as cutmix_lib
from jaxmix._src import mixing


def candidates(batch: int, size: int, alpha: float, inner: int):
  x = np.random.default_rng(0).random((batch, size, size, 3), np.float32)
  out = np.empty_like(x)
  keys = _timing.key_list(1000)
  op = cutmix_lib.cutmix_op(alpha, None, True, size, size, "NHWC")
  images, labels = jnp.asarray(x), jnp.arange(batch) % 10

  # The images are arguments, not constants closed over: XLA folds a constant batch.
  _, params = mixing.draw(keys[0], op, "elem", batch)
  box = params["box"]
  select = lambda flat_rows: jax.jit(
      lambda b, x: boxes.select_in_box(b, x[::-1], x, flat_rows=flat_rows))
  select_flat, select_nhwc = select(True), select(False)
  cutmix = jax.jit(lambda k, x, y: jaxmix.cutmix(k, x, y, alpha=alpha, num_classes=10))
  out_of_place = jax.jit(lambda x: x + x[::-1])
  jitted = {
      "floor: jitted x + x[::-1] (fresh output)": lambda k: out_of_place(images),
      "cutmix elem: all draws, one pass (now)":
          jax.jit(lambda k: mixing.draw(k, op, "elem", batch)),
      "cutmix elem: all draws, key per sample (before)":
          jax.jit(lambda k: draws_before.cutmix_elem_draws(k, alpha, batch, size, size)),
      "cutmix batch: one draw (now)": jax.jit(lambda k: mixing.draw(k, op, "batch", batch)),
      "box select alone, [B, H, W·C] rows (CPU layout)": lambda k: select_flat(box, images),
      "box select alone, [B, H, W, C] (GPU layout)": lambda k: select_nhwc(box, images),
      "jaxmix.cutmix elem (mask path, labels)": lambda k: cutmix(k, images, labels),
  }

  def repeat(call):
    def run(i):
      for j in range(inner):
        call(i * inner + j)
    return run

  cands = {"floor: np.copyto (reused buffer)": repeat(lambda i: np.copyto(out, x)),
           "dispatch: jitted () -> 0": repeat(lambda i: _timing.dispatch().block_until_ready()),
           "no-op: jitted (key) -> 0":
               repeat(lambda i: _timing.noop(keys[i % len(keys)]).block_until_ready())}
  for name, fn in jitted.items():
    cands[name] = repeat(lambda i, fn=fn: jax.block_until_ready(fn(keys[i % len(keys)])))
  return cands


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--size", type=int, default=32)
  parser.add_argument("--rounds", type=int, default=15)
  parser.add_argument("--inner", type=int, default=20)
  parser.add_argument("--alpha", type=float, default=1.0)
  args = parser.parse_args()
  print(f"jax {jax.__version__} on {jax.default_backend()}; {_timing.machine()}")
  print(f"{args.batch}x{args.size}x{args.size}x3 float32, α = {args.alpha}: median of "
        f"{args.rounds} interleaved rounds × {args.inner} calls\n")
  times, errors = _timing.interleaved(candidates(args.batch, args.size, args.alpha, args.inner),
                                      args.rounds)
  per_call = {name: [t / args.inner for t in ts] for name, ts in times.items()}
  floor = _timing.quartiles(per_call["floor: np.copyto (reused buffer)"])[1]
  fresh = _timing.quartiles(per_call["floor: jitted x + x[::-1] (fresh output)"])[1]
  print("| candidate | ms (median) | p25–p75 | × np.copyto | × x + x[::-1] |\n"
        "| --- | ---: | ---: | ---: | ---: |")
  for name, ts in per_call.items():
    p25, med, p75 = _timing.quartiles(ts)
    print(f"| {name} | {med * 1e3:.3f} | {p25 * 1e3:.3f}–{p75 * 1e3:.3f} | {med / floor:.2f} "
          f"| {med / fresh:.2f} |")
  for name, error in errors.items():
    print(f"skipped {name}: {error}")
  print(f"\nload after: {_timing.load_average()}")


if __name__ == "__main__":
  main()
