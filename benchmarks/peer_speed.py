"""Every jaxmix op and mode against its peers and the physical floors, in one run.

For each shape and dtype, every candidate is called once per round, rounds
interleaved (see `benchmarks/_timing.py`); each row gives the median ms, the
interquartile range, and the ratio of its median to two floors measured in the
same rounds:
- `np.copyto` of the batch into a reused buffer (read once, write once; no
  allocation): the memory floor of any op that writes a batch;
- a jitted `-x` with the input donated (rewrites the batch in its own buffer).
`-x` into a fresh output (what the old README called "a copy") is listed too: on a
CPU its cost is mostly page-faulting a new batch-sized buffer on every call.

Candidates (1000 classes, integer labels, a new key / seed per call):
- jaxmix: cutmix / mixup in batch, pair, elem; cutmix with `method="patch"` and the
  batch donated (the in-place patch path), cutout, random erasing, `mix` (timm
  policy); the per-sample parameter draws alone.
- a plain hand-written jitted JAX CutMix (per-sample Beta λ, official box, flip).
- timm 1.x `Mixup` (PyTorch, NCHW, mixes in place) in batch / pair / elem.
- torchvision v2 `CutMix` / `MixUp` (one λ per batch).
- Keras 3 `CutMix` / `MixUp` (JAX backend; one λ per image): eager, and jitted via
  `keras.StatelessScope` (the seed state passed in and out).
A peer that is not installed, or fails on a dtype, is listed as skipped with why.

Peers are not dependencies of jaxmix; install them in a separate venv:
  python -m venv /tmp/peers && /tmp/peers/bin/pip install torch==2.14.1 \
      torchvision==0.29.1 timm keras chex "jax==$(python -c 'import jax; print(jax.__version__)')"
Run from the repository root (the peers' Python, jaxmix from the tree):
  PYTHONPATH=. JAX_PLATFORMS=cpu /tmp/peers/bin/python -m benchmarks.peer_speed
  ... --shapes 256x32x32x3 --dtypes float32 --rounds 9 --json docs/bench/peer.json
"""

import argparse
import functools
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxmix  # noqa: E402
from benchmarks import _timing  # noqa: E402

NUM_CLASSES = 1000


def _block(out):
  jax.block_until_ready(out)


def _np_dtype(name):
  return {"float32": np.float32, "uint8": np.uint8, "bfloat16": jnp.bfloat16}[name]


def floors(x_np: np.ndarray):
  """np.copyto into a reused buffer; -x donated; -x into a fresh output."""
  dst = np.empty_like(x_np)
  neg_donated = jax.jit(lambda x: -x, donate_argnums=0)
  neg_fresh = jax.jit(lambda x: -x)
  state = {"x": jnp.asarray(x_np)}
  src = jnp.asarray(x_np)

  def donated(i):
    state["x"] = neg_donated(state["x"])
    _block(state["x"])

  return {"floor: np.copyto (reused buffer)": lambda i: np.copyto(dst, x_np),
          "floor: jitted -x, donated": donated,
          "jitted -x, fresh output": lambda i: _block(neg_fresh(src))}


def jaxmix_ops(x_np, labels_np, keys):
  x, y = jnp.asarray(x_np), jnp.asarray(labels_np)
  # Baselines: a jitted call's dispatch alone, and one taking the ops' arguments.
  out = {"dispatch: jitted () -> 0": lambda i: _block(_timing.dispatch()),
         "no-op: jitted (key, x, y) -> 0": lambda i: _block(_timing.noop(keys[i], x, y))}
  # What each jaxmix row timed besides its op before the keys became a list.
  key_array = jax.random.split(jax.random.key(1), len(keys))
  out["eager key slice keys[i] (in jaxmix rows before the fix)"] = (
      lambda i: _block(key_array[i]))
  c = functools.partial
  ops = {}
  for mode in ("batch", "pair", "elem"):
    ops[f"jaxmix cutmix {mode}"] = c(jaxmix.cutmix, num_classes=NUM_CLASSES, mode=mode)
    ops[f"jaxmix mixup {mode}"] = c(jaxmix.mixup, num_classes=NUM_CLASSES, mode=mode)
  ops["jaxmix cutmix elem permute"] = c(jaxmix.cutmix, num_classes=NUM_CLASSES,
                                        mode="elem", partner="permute")
  ops["jaxmix cutout elem"] = lambda k, x, y: jaxmix.cutout(k, x, size=x.shape[1] // 2)
  ops["jaxmix random_erasing"] = lambda k, x, y: jaxmix.random_erasing(k, x, prob=1.0)
  for mode in ("batch", "elem"):
    ops[f"jaxmix mix (timm policy) {mode}"] = (
        lambda k, x, y, mode=mode: jaxmix.mix(k, x, y, jaxmix.MixConfig(
            num_classes=NUM_CLASSES, mode=mode)))
  for name, op in ops.items():
    fn = jax.jit(op)
    out[name] = lambda i, fn=fn: _block(fn(keys[i], x, y))
  # The patch path with the batch donated: each call rewrites the previous output.
  for mode in ("batch", "elem"):
    fn = jax.jit(c(jaxmix.cutmix, num_classes=NUM_CLASSES, mode=mode, method="patch")
                 if _has_method() else _no_method, donate_argnums=1)
    state = {"x": jnp.asarray(x_np)}

    def call(i, fn=fn, state=state):
      state["x"], rows = fn(keys[i], state["x"], y)
      _block(state["x"])
    out[f"jaxmix cutmix {mode} patch, donated"] = call
  draws = _draws_alone(x_np.shape)
  if draws is not None:
    out["jaxmix cutmix elem: parameter draws alone"] = lambda i: _block(draws(keys[i]))
  return out


def _has_method() -> bool:
  import inspect
  return "method" in inspect.signature(jaxmix.cutmix).parameters


def _no_method(*args, **kwargs):
  raise TypeError("this jaxmix has no cutmix(method=...)")


def _draws_alone(shape):
  """The per-sample (box, λ) draws of elem-mode CutMix without touching pixels."""
  try:
    from jaxmix._src import cutmix as cutmix_lib
    from jaxmix._src import mixing
  except ImportError:
    return None
  b, h, w = shape[0], shape[1], shape[2]
  op = cutmix_lib.cutmix_op(1.0, None, True, h, w, "NHWC")
  return jax.jit(lambda k: mixing.draw(k, op, "elem", b))


def plain_jax_cutmix(x_np, labels_np, keys):
  """What a user would write in ten lines: per-sample Beta λ, official box, flip."""
  b, h, w = x_np.shape[:3]

  @jax.jit
  def cutmix(key, x, y):
    k1, k2, k3 = jax.random.split(key, 3)
    lam = jax.random.beta(k1, 1.0, 1.0, (b,))
    cut = jnp.sqrt(1.0 - lam)
    cy = jax.random.randint(k2, (b,), 0, h)
    cx = jax.random.randint(k3, (b,), 0, w)
    ch, cw = (cut * h).astype(jnp.int32) // 2, (cut * w).astype(jnp.int32) // 2
    y1, y2 = jnp.clip(cy - ch, 0, h), jnp.clip(cy + ch, 0, h)
    x1, x2 = jnp.clip(cx - cw, 0, w), jnp.clip(cx + cw, 0, w)
    ys, xs = jnp.arange(h)[:, None], jnp.arange(w)[None, :]
    m = ((ys >= y1[:, None, None]) & (ys < y2[:, None, None]) & (xs >= x1[:, None, None])
         & (xs < x2[:, None, None]))[..., None]
    lam = 1.0 - (y2 - y1) * (x2 - x1) / (h * w)
    rows = jax.nn.one_hot(y, NUM_CLASSES)
    return (jnp.where(m, x[::-1], x),
            lam[:, None] * rows + (1 - lam[:, None]) * rows[::-1])

  x, y = jnp.asarray(x_np), jnp.asarray(labels_np)
  return {"plain jitted JAX cutmix elem": lambda i: _block(cutmix(keys[i], x, y))}


def timm_ops(x_np, labels_np):
  try:
    import torch
    from timm.data import mixup as timm_mixup
  except ImportError as e:
    return {}, {"timm": f"not importable ({e})"}
  x = _torch_nchw(torch, x_np)
  y = torch.from_numpy(labels_np.astype(np.int64))
  out = {}
  for op, kwargs in (("cutmix", dict(mixup_alpha=0.0, cutmix_alpha=1.0)),
                     ("mixup", dict(mixup_alpha=1.0, cutmix_alpha=0.0))):
    for mode in ("batch", "pair", "elem"):
      mixer = timm_mixup.Mixup(**kwargs, mode=mode, label_smoothing=0.0,
                               num_classes=NUM_CLASSES)
      # timm mixes in place: each call mixes the previous call's output (no clone).
      out[f"timm Mixup {op} {mode} (in place)"] = lambda i, m=mixer: m(x, y)
  return out, {}


def torchvision_ops(x_np, labels_np):
  try:
    import torch
    from torchvision.transforms import v2
  except ImportError as e:
    return {}, {"torchvision": f"not importable ({e})"}
  x = _torch_nchw(torch, x_np)
  y = torch.from_numpy(labels_np.astype(np.int64))
  out = {}
  for name, t in (("CutMix", v2.CutMix(num_classes=NUM_CLASSES)),
                  ("MixUp", v2.MixUp(num_classes=NUM_CLASSES))):
    out[f"torchvision v2 {name} batch"] = lambda i, t=t: t(x, y)
  return out, {}


def _torch_nchw(torch, x_np):
  if x_np.dtype == jnp.bfloat16:
    return torch.from_numpy(x_np.astype(np.float32).transpose(0, 3, 1, 2).copy()).to(
        torch.bfloat16)
  return torch.from_numpy(x_np.transpose(0, 3, 1, 2).copy())


def keras_ops(x_np, labels_np):
  try:
    import keras
  except ImportError as e:
    return {}, {"keras": f"not importable ({e})"}
  if keras.backend.backend() != "jax":
    return {}, {"keras": "backend is not jax"}
  x = jnp.asarray(x_np)
  rows = jax.nn.one_hot(jnp.asarray(labels_np), NUM_CLASSES)
  out = {}
  for name, layer in (("CutMix", keras.layers.CutMix(factor=1.0, seed=0)),
                      ("MixUp", keras.layers.MixUp(alpha=1.0, seed=0))):
    out[f"Keras {name} eager"] = (
        lambda i, layer=layer: _block(layer({"images": x, "labels": rows}, training=True)))
    gen = layer._get_seed_generator("jax")

    def stateless(images, labels, seed_state, layer=layer, gen=gen):
      with keras.StatelessScope(state_mapping=[(gen.state, seed_state)]) as scope:
        t = layer.get_random_transformation({"images": images, "labels": labels},
                                            training=True)
        mixed = (layer.transform_images(images, t, training=True),
                 layer.transform_labels(labels, t, training=True))
        return mixed, scope.get_current_value(gen.state)

    fn = jax.jit(stateless)
    state = {"seed": jnp.asarray(gen.state.value)}

    def call(i, fn=fn, state=state):
      mixed, state["seed"] = fn(x, rows, state["seed"])
      _block(mixed)
    out[f"Keras {name} jitted"] = call
  return out, {"keras version": keras.__version__}


def run(shape, dtype_name, rounds):
  rng = np.random.default_rng(0)
  dtype = _np_dtype(dtype_name)
  if dtype == np.uint8:
    x_np = rng.integers(0, 256, shape, dtype=np.uint8)
  else:
    x_np = rng.random(shape, dtype=np.float32).astype(dtype)
  labels_np = rng.integers(0, NUM_CLASSES, shape[0]).astype(np.int32)
  keys = _timing.key_list(rounds + 8)  # a list: indexing it inside a timed call is free
  candidates = floors(x_np)
  notes = {}
  candidates.update(jaxmix_ops(x_np, labels_np, keys))
  candidates.update(plain_jax_cutmix(x_np, labels_np, keys))
  for build in (timm_ops, torchvision_ops, keras_ops):
    more, note = build(x_np, labels_np)
    candidates.update(more)
    notes.update(note)
  times, errors = _timing.interleaved(candidates, rounds)
  return times, errors, notes


def table(shape, dtype_name, times, errors, notes, rounds):
  name = "x".join(map(str, shape))
  copy = _timing.quartiles(times["floor: np.copyto (reused buffer)"])[1]
  donated = _timing.quartiles(times["floor: jitted -x, donated"])[1]
  lines = [f"\n### {name} {dtype_name}: median of {rounds} interleaved rounds "
           f"({_timing.machine()})",
           "", "| candidate | ms (median) | p25–p75 | × np.copyto | × donated -x |",
           "| --- | ---: | ---: | ---: | ---: |"]
  for cand, samples in times.items():
    lo, med, hi = _timing.quartiles(samples)
    lines.append(f"| {cand} | {med * 1e3:.2f} | {lo * 1e3:.2f}–{hi * 1e3:.2f} | "
                 f"{med / copy:.2f} | {med / donated:.2f} |")
  for cand, why in {**errors, **{k: v for k, v in notes.items() if "version" not in k}
                    }.items():
    lines.append(f"| {cand} | skipped | {why} | | |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--shapes", default="128x224x224x3,256x32x32x3")
  parser.add_argument("--dtypes", default="float32,bfloat16,uint8")
  parser.add_argument("--rounds", type=int, default=11)
  parser.add_argument("--json", default=None, help="write all samples here")
  args = parser.parse_args()
  print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}; {_timing.machine()}")
  for mod in ("torch", "torchvision", "timm", "keras"):
    try:
      print(f"{mod} {__import__(mod).__version__}")
    except ImportError:
      print(f"{mod}: not installed (its rows are skipped)")
  results = []
  for spec in args.shapes.split(","):
    shape = tuple(int(s) for s in spec.split("x"))
    for dtype_name in args.dtypes.split(","):
      times, errors, notes = run(shape, dtype_name, args.rounds)
      print(table(shape, dtype_name, times, errors, notes, args.rounds), flush=True)
      results.append({"shape": spec, "dtype": dtype_name, "machine": _timing.machine(),
                      "seconds": times, "errors": errors})
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"argv": sys.argv, "jax": jax.__version__, "results": results}, f, indent=1)


if __name__ == "__main__":
  main()
