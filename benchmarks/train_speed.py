r"""Train-step throughput and the cost of mixing inside it, interleaved, with spread.

The step is built here from `experiments.models`, optax and jaxmix (not from the
trainer), so this measures the model + mix + optimizer and nothing else: uint8
batch in → (CutMix on uint8 | normalize) → (Mixup on floats) → forward/backward →
SGD-Nesterov with weight decay; parameters, statistics and optimizer state donated.

Every round runs `--steps` steps of each variant (none, cutmix, ...) in a rotated
order and times them; the table gives the median step time over rounds, its IQR,
img/s, and the overhead of each mix as the median over rounds of
(variant / none of the same round) − 1 with its IQR: a round shares the machine's
state, so this ratio is far less noisy than two separate runs. Compile time
(lower + compile) and the number of times each jaxmix op was traced are listed too.

  python -m benchmarks.train_speed --model resnet_small --batch 128 --rounds 9
  python -m benchmarks.train_speed --model resnet18 --batch 64 --steps 1 --rounds 5
  python -m benchmarks.train_speed --model resnet50 --image 224 --bf16 --batch 8 \
      --steps 1 --rounds 3 --mix none,cutmix
  python -m benchmarks.train_speed --model airbench --batch 512 --epoch
XLA CPU options go in XLA_FLAGS as usual; `--epoch` adds the wall time of one
CIFAR-10 epoch (50,000 images) at the measured rate.
"""

import argparse
import collections
import itertools
import json
import time

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxmix
from benchmarks import _timing
from experiments import models

TRACES = collections.Counter()
MEAN, STD = np.array([125.3, 123.0, 113.9]), np.array([63.0, 62.1, 66.7])


def _mix(name: str, key, images_u8, labels, num_classes, dtype):
  """(normalized inputs, target rows) for mix `name`; counts its traces."""
  TRACES[name] += 1
  normalize = lambda x: ((x.astype(jnp.float32) - MEAN) / STD).astype(dtype)
  if name == "none":
    return normalize(images_u8), jax.nn.one_hot(labels, num_classes)
  if name.startswith("cutmix"):  # on uint8: a quarter of the float32 bytes
    method = "patch" if name == "cutmix_patch" else "mask"
    kwargs = dict(method=method) if method == "patch" else {}
    x, rows = jaxmix.cutmix(key, images_u8, labels, num_classes=num_classes,
                            mode="elem", **kwargs)
    return normalize(x), rows
  if name == "mixup":
    return jaxmix.mixup(key, normalize(images_u8), labels, num_classes=num_classes,
                        mode="elem")
  if name == "cutout":
    return normalize(jaxmix.cutout(key, images_u8, size=images_u8.shape[1] // 2)), \
        jax.nn.one_hot(labels, num_classes)
  raise ValueError(f"unknown mix {name!r}")


def make_step(model_name: str, mix: str, *, batch: int, image: int, dtype, num_classes=10,
              in_channels=3, model_kwargs=None):
  """(step function, initial state) for one variant; state holds a uint8 batch.

  step(params, rest, opt_state, images, labels, key) -> (params, rest, opt_state, loss).
  """
  model = models.create_model(model_name, num_classes, nnx.Rngs(0), dtype=dtype,
                              in_channels=in_channels, **(model_kwargs or {}))
  model.train()  # BatchNorm on batch statistics, updating its running averages
  graphdef, params, rest = nnx.split(model, nnx.Param, nnx.BatchStat)
  params, rest = nnx.to_pure_dict(params), nnx.to_pure_dict(rest)
  tx = optax.chain(optax.add_decayed_weights(5e-4),
                   optax.sgd(0.05, momentum=0.9, nesterov=True))
  opt_state = tx.init(params)

  def step(params, rest, opt_state, images, labels, key):
    x, targets = _mix(mix, key, images, labels, num_classes, dtype)

    def loss_fn(p):
      m = nnx.merge(graphdef, p, rest)
      logits = m(x)
      return (optax.softmax_cross_entropy(logits, targets).mean(),
              nnx.to_pure_dict(nnx.state(m, nnx.BatchStat)))

    (loss, rest), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, rest, opt_state, loss

  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (batch, image, image, in_channels), np.uint8))
  labels = jnp.asarray(rng.integers(0, num_classes, batch), jnp.int32)
  return step, {"params": params, "rest": rest, "opt": opt_state, "images": images,
                "labels": labels}


def build(model_name: str, mix: str, *, batch: int, image: int, dtype, num_classes=10,
          in_channels=3, model_kwargs=None, compiler_options=None):
  """(compiled step, initial state, compile seconds) for one variant."""
  step, s = make_step(model_name, mix, batch=batch, image=image, dtype=dtype,
                      num_classes=num_classes, in_channels=in_channels,
                      model_kwargs=model_kwargs)
  jitted = jax.jit(step, donate_argnums=(0, 1, 2))
  t = time.perf_counter()
  compiled = jitted.lower(s["params"], s["rest"], s["opt"], s["images"], s["labels"],
                          jax.random.key(0)).compile(compiler_options=compiler_options or None)
  compile_s = time.perf_counter() - t
  return compiled, s, compile_s


def _typed(value: str):
  if value.lower() in ("true", "false"):
    return value.lower() == "true"
  try:
    return int(value)
  except ValueError:
    return value


def parse_options(spec: str) -> dict:
  """'default;onednn:xla_cpu_use_onednn=true' → {"default": {}, "onednn": {...}}."""
  out = {}
  for part in filter(None, spec.split(";")):
    name, _, kvs = part.partition(":")
    pairs = (kv.split("=", 1) for kv in filter(None, kvs.split(",")))
    out[name] = {k: _typed(v) for k, v in pairs}
  return out or {"default": {}}


def run(args):
  dtype = jnp.bfloat16 if args.bf16 else jnp.float32
  mixes = args.mix.split(",")
  variants, compile_s = {}, {}
  build_errors, traces = {}, {}
  option_sets = parse_options(args.xla_options)
  names, batch_of = [], {}
  batches = [int(b) for b in str(args.batch).split(",")]
  for mix, batch, (opt_name, options) in itertools.product(mixes, batches,
                                                           option_sets.items()):
    name = mix + (f" [{opt_name}]" if len(option_sets) > 1 else "") + (
        f" b={batch}" if len(batches) > 1 else "")
    batch_of[name] = batch
    try:
      before = TRACES[mix]
      variants[name] = build(args.model, mix, batch=batch, image=args.image,
                             dtype=dtype, model_kwargs=json.loads(args.model_kwargs),
                             compiler_options=options)
      compile_s[name] = variants[name][2]
      traces[name] = TRACES[mix] - before
      names.append(name)
    except Exception as e:  # e.g. a jaxmix without cutmix(method=...), a bad option
      build_errors[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:100]}"
  mixes = names
  # A list made before timing (warm-up round + rounds): indexing it inside a step is free.
  keys = _timing.key_list((args.rounds + 1) * args.steps, seed=1)

  def caller(mix):
    compiled, s, _ = variants[mix]

    def call(i):
      for j in range(args.steps):
        s["params"], s["rest"], s["opt"], loss = compiled(
            s["params"], s["rest"], s["opt"], s["images"], s["labels"],
            keys[(i * args.steps + j) % len(keys)])
      jax.block_until_ready(loss)
    return call

  times, errors = _timing.interleaved({m: caller(m) for m in mixes}, args.rounds,
                                      warmup=1)
  return times, {**build_errors, **errors}, {"compile_s": compile_s, "traces": traces,
                                            "batch": batch_of}


def report(args, times, errors, compile_s):
  per_step = {m: [t / args.steps for t in v] for m, v in times.items()}
  lines = [f"\n### {args.model} {'bf16' if args.bf16 else 'float32'}, batch {args.batch}, "
           f"{args.image}x{args.image}, {args.rounds} rounds x {args.steps} steps "
           f"({_timing.machine()}; XLA_FLAGS={__import__('os').environ.get('XLA_FLAGS', '')!r})",
           "", "| mix | step ms (median) | p25–p75 | img/s | overhead vs none (median, IQR) "
           "| compile s | traces |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
  summary = {}
  for m, v in per_step.items():
    lo, med, hi = _timing.quartiles(v)
    over = ""
    base = per_step.get("none" + m[len(m.split(" ")[0]):])
    if base is not None and not m.startswith("none"):
      ratios = [a / b - 1 for a, b in zip(v, base)]
      rlo, rmed, rhi = _timing.quartiles(ratios)
      over = f"{rmed * 100:+.1f}% ({rlo * 100:+.1f}…{rhi * 100:+.1f})"
    ips = compile_s["batch"][m] / med
    summary[m] = {"step_s": med, "img_s": ips, "iqr": [lo, hi]}
    lines.append(f"| {m} | {med * 1e3:.1f} | {lo * 1e3:.1f}–{hi * 1e3:.1f} | {ips:.1f} | "
                 f"{over} | {compile_s['compile_s'][m]:.1f} | {compile_s['traces'][m]} |")
  for m, why in errors.items():
    lines.append(f"| {m} | skipped: {why} | | | | | |")
  if args.epoch:
    for m, v in summary.items():
      if m.startswith("none"):
        lines.append(f"\nOne CIFAR-10 epoch (50,000 images) at the `{m}` rate: "
                     f"{50_000 / v['img_s'] / 60:.2f} min.")
  return "\n".join(lines), summary


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default="resnet_small")
  parser.add_argument("--model_kwargs", default="{}", help='JSON, e.g. \'{"width": 8}\'')
  parser.add_argument("--mix", default="none,cutmix,cutmix_patch,mixup")
  parser.add_argument("--batch", default="128", help="one or more, e.g. 128,256")
  parser.add_argument("--image", type=int, default=32)
  parser.add_argument("--steps", type=int, default=3, help="steps per round")
  parser.add_argument("--rounds", type=int, default=7)
  parser.add_argument("--bf16", action="store_true")
  parser.add_argument("--epoch", action="store_true")
  parser.add_argument("--xla_options", default="default",
                      help="named XLA compiler option sets compared in the same rounds, "
                      "'default;onednn:xla_cpu_use_onednn=true'")
  parser.add_argument("--json", default=None)
  args = parser.parse_args()
  times, errors, compile_s = run(args)
  text, summary = report(args, times, errors, compile_s)
  print(text, flush=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"args": vars(args), "summary": summary, "seconds": times}, f, indent=1)


if __name__ == "__main__":
  main()
