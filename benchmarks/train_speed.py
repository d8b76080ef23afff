r"""Training throughput (images/s) of the jitted train step, with and without mixing.

Times `experiments.train.train_step` exactly as the trainer builds it (same sharding,
donation, mixing and optimizer) on a fixed uint8 batch, so the data pipeline is not
measured; compilation is excluded (one warm-up step). Example:

  python -m benchmarks.train_speed --model resnet_small --mix none,cutmix --steps 30
  python -m benchmarks.train_speed --model resnet18 --mix none,cutmix --steps 5 \
      --batch_size 64
"""

import argparse
import functools
import time

import jax
from jax.sharding import NamedSharding, PartitionSpec as P
import numpy as np

from experiments import train
from experiments.configs import default


def measure(model: str, mix: str, *, batch_size: int, image_size: int, steps: int,
            half_precision: bool = False, width: int | None = None) -> dict:
  config = default.get_config()
  config.model, config.mix, config.batch_size = model, mix, batch_size
  config.half_precision = half_precision
  if width:
    config.model_kwargs.width = width
  num_classes = 10
  mesh = train.make_mesh()
  replicated, data = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
  tx = train.make_optimizer(config, train.make_schedule(config, 100, 10_000))
  graphdef, _, state = train.create_model_and_state(
      config, num_classes, tx, jax.random.key(0))
  state = jax.device_put(state, replicated)
  acc = jax.device_put(train.empty_accumulator(), replicated)
  step = jax.jit(
      functools.partial(train.train_step, graphdef=graphdef, tx=tx, config=config,
                        mix_config=train.make_mix_config(config, num_classes,
                                                         jax.device_count()),
                        num_classes=num_classes, mean=(127.5,) * 3, std=(64.0,) * 3),
      in_shardings=(replicated, replicated, data, replicated),
      out_shardings=(replicated, replicated), donate_argnums=(0, 1))
  rng = np.random.default_rng(0)
  batch = train.shard_batch(
      {"image": rng.integers(0, 256, (batch_size, image_size, image_size, 3), np.uint8),
       "label": rng.integers(0, num_classes, batch_size).astype(np.int32)}, data)
  key = jax.random.key(0)
  t = time.perf_counter()
  state, acc = step(state, acc, batch, key)
  jax.block_until_ready(acc)
  compile_s = time.perf_counter() - t
  t = time.perf_counter()
  for _ in range(steps):
    state, acc = step(state, acc, batch, key)
  jax.block_until_ready(acc)
  elapsed = time.perf_counter() - t
  return {"model": model, "mix": mix, "batch_size": batch_size,
          "image_size": image_size, "steps": steps, "bf16": half_precision,
          "images_per_sec": steps * batch_size / elapsed,
          "ms_per_step": 1e3 * elapsed / steps, "compile_s": compile_s}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--model", default="resnet_small")
  parser.add_argument("--mix", default="none,cutmix",
                      help="comma-separated: none, cutout, mixup, cutmix, mix")
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--image_size", type=int, default=32)
  parser.add_argument("--steps", type=int, default=30)
  parser.add_argument("--width", type=int, default=None)
  parser.add_argument("--bf16", action="store_true")
  args = parser.parse_args()
  print(f"devices: {jax.device_count()} x {jax.devices()[0].platform}")
  print(f"{'model':<16}{'mix':<8}{'batch':>6}{'img/s':>10}{'ms/step':>10}"
        f"{'compile s':>11}")
  for mix in args.mix.split(","):
    r = measure(args.model, mix, batch_size=args.batch_size,
                image_size=args.image_size, steps=args.steps,
                half_precision=args.bf16, width=args.width)
    print(f"{r['model']:<16}{r['mix']:<8}{r['batch_size']:>6}"
          f"{r['images_per_sec']:>10.1f}{r['ms_per_step']:>10.1f}"
          f"{r['compile_s']:>11.1f}", flush=True)


if __name__ == "__main__":
  main()
