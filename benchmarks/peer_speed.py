"""jaxmix against peers on one machine, in one run: timm's Mixup (PyTorch) and Keras 3 (JAX backend).

Median ms per call for CutMix and Mixup at one λ per batch ("batch") and one per image
("elem"), and each peer's time over jaxmix's (> 1: jaxmix is faster). Same batch for all:
float32, NHWC for JAX, NCHW for torch (timm's layout); 1000 classes.

- jaxmix: the jitted op, one fresh key per call.
- timm 1.0: `timm.data.mixup.Mixup` (its elem mode loops over the batch in Python).
- Keras 3: `keras.layers.CutMix` / `keras.layers.MixUp` called on device arrays (their
  `factor` = α); Keras draws one λ per image, so it is listed under elem.

Set-up (peers are not dependencies of jaxmix): `pip install torch==2.13.0 keras` then
`pip install --no-deps timm` (timm's mixup module is loaded alone, without torchvision).
Usage: KERAS_BACKEND=jax python benchmarks/peer_speed.py [--shape 128x224x224x3] [--reps 10]
"""

import argparse
import functools
import importlib.metadata
import importlib.util
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxmix  # noqa: E402

NUM_CLASSES = 1000


def _median_seconds(fn, reps: int) -> float:
  fn(0)
  fn(1)
  times = []
  for i in range(reps):
    start = time.perf_counter()
    fn(i + 2)
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def _jaxmix(images, labels, reps):
  keys = jax.random.split(jax.random.key(0), reps + 2)
  out = {}
  for op in ("cutmix", "mixup"):
    for mode in ("batch", "elem"):
      fn = jax.jit(functools.partial(getattr(jaxmix, op), num_classes=NUM_CLASSES, mode=mode,
                                     alpha=1.0))
      out[(op, mode)] = _median_seconds(
          lambda i: jax.block_until_ready(fn(keys[i], images, labels)), reps)
  return out


def _timm(images, labels, reps):
  try:
    import torch
  except ImportError as e:
    print(f"torch not installed ({e}); skipping timm")
    return {}
  # `import timm` would import torchvision; its mixup module needs only torch and NumPy.
  timm_spec = importlib.util.find_spec("timm")
  if timm_spec is None:
    print("timm not installed; skipping timm")
    return {}
  torch.manual_seed(0)
  path = os.path.join(timm_spec.submodule_search_locations[0], "data", "mixup.py")
  spec = importlib.util.spec_from_file_location("timm_mixup", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  x = torch.from_numpy(np.asarray(images).transpose(0, 3, 1, 2).copy())
  y = torch.from_numpy(np.asarray(labels).astype(np.int64))
  out = {}
  for op, kwargs in (("cutmix", dict(mixup_alpha=0.0, cutmix_alpha=1.0)),
                     ("mixup", dict(mixup_alpha=1.0, cutmix_alpha=0.0))):
    for mode in ("batch", "elem"):
      mixer = module.Mixup(**kwargs, mode=mode, label_smoothing=0.0, num_classes=NUM_CLASSES)
      out[(op, mode)] = _median_seconds(lambda i: mixer(x.clone(), y), reps)
  # timm mixes in place; the clone is part of the call, so time it alone and subtract it.
  clone = _median_seconds(lambda i: x.clone(), reps)
  version = importlib.metadata.version("timm")
  print(f"timm {version}: torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"clone {clone * 1e3:.2f} ms subtracted")
  return {k: max(v - clone, 1e-9) for k, v in out.items()}


def _keras(images, labels, reps):
  try:
    import keras
  except ImportError as e:
    print(f"keras not installed ({e}); skipping Keras")
    return {}
  if keras.backend.backend() != "jax":
    print("Keras backend is not jax; skipping Keras")
    return {}
  one_hot = jax.nn.one_hot(labels, NUM_CLASSES)
  out = {}
  for op, layer in (("cutmix", keras.layers.CutMix(factor=1.0, seed=0)),
                    ("mixup", keras.layers.MixUp(alpha=1.0, seed=0))):
    def call(i, layer=layer):
      result = layer({"images": images, "labels": one_hot}, training=True)
      jax.block_until_ready(result)
    out[(op, "elem")] = _median_seconds(call, reps)
  print(f"keras {keras.__version__} (backend {keras.backend.backend()})")
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--shape", default="128x224x224x3")
  parser.add_argument("--reps", type=int, default=10)
  args = parser.parse_args()
  shape = tuple(int(s) for s in args.shape.split("x"))
  rng = np.random.RandomState(0)
  images = jax.device_put(jnp.asarray(rng.rand(*shape), jnp.float32))
  labels = jax.device_put(jnp.asarray(rng.randint(0, NUM_CLASSES, shape[0]), jnp.int32))
  print(f"batch {args.shape} float32, jax {jax.__version__} on {jax.devices()[0].device_kind}, "
        f"median of {args.reps}")
  results = {"jaxmix": _jaxmix(images, labels, args.reps), "timm": _timm(images, labels, args.reps),
             "keras": _keras(images, labels, args.reps)}
  print(f"\n| {'op':<7} | {'mode':<5} | {'jaxmix ms':>9} | {'timm ms':>9} | {'timm/jaxmix':>11} | "
        f"{'keras ms':>9} | {'keras/jaxmix':>12} |")
  print(f"|{'-' * 9}|{'-' * 7}|{'-' * 11}|{'-' * 11}|{'-' * 13}|{'-' * 11}|{'-' * 14}|")
  for key, ours in results["jaxmix"].items():
    cells = []
    for peer in ("timm", "keras"):
      theirs = results[peer].get(key)
      cells += ["-", "-"] if theirs is None else [f"{theirs * 1e3:.2f}", f"{theirs / ours:.2f}"]
    print(f"| {key[0]:<7} | {key[1]:<5} | {ours * 1e3:9.2f} | {cells[0]:>9} | {cells[1]:>11} | "
          f"{cells[2]:>9} | {cells[3]:>12} |")


if __name__ == "__main__":
  main()
