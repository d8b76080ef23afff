"""CIFAR-10 at reference scale on one accelerator: PreAct-ResNet-18, all methods and seeds at once.

Issue 8's GPU study: baseline / Cutout / Mixup / CutMix with the CPU studies' recipe and the
papers' CIFAR settings (`studies._common.method_config`), 3 seeds each, trained on all 50,000
training images of the JPEG-re-encoded CIFAR-10 archive and tested on its 10,000 test images.
The 12 models are stacked on one `jax.vmap` axis, so a single jitted step updates all of them
(each model picks its method's mix with `lax.switch`); that fills one GPU where 12 separate small
runs would not. Same seed = same initialization, batch order, crop/flip and mixing draws.

The host needs jax, flax, optax, numpy, Pillow and ml_collections only (no TFDS or grain: the
archive is decoded here), so it runs on a lent GPU machine. Train step, optimizer, mixing and
analyses are the CPU studies' own (`train.train_step`, `augment.make_augment_fn`,
`analysis.calibration` / `occlusion_curves`). Crop + flip run on device (zero padding 4, as
`input_pipeline.crop_and_flip`) with JAX draws instead of the CPU pipeline's NumPy ones.

  python -m experiments.cifar_reference --archive ../shared/data/cifar10-jpeg.tar.gz --epochs 15
  python -m experiments.cifar_reference --archive ... --budget-s 300   # the most epochs that fit
  python -m experiments.cifar_reference --archive ... --methods baseline cutmix --budget-s 400 \
      --name cifar_reference_long   # fewer models, more epochs: a separate result set

`--budget-s` times 20 steps after compiling and picks the epochs; each result records them and
the `--epochs` command that reproduces it. Writes one JSON per run (`<method>__seed<k>.json`,
the study runner's schema) to --out. On a lent device whose reply returns only a few files,
pack --out into one archive (`tar czf $OUT/results.tgz -C <out> .`) and keep the printed log:
`experiments.report` completes missing JSONs from a committed `*.log` of the invocation.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import pathlib
import platform
import re
import shlex
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.eval import analysis
from experiments import augment
from experiments import data_registry
from experiments import image_files
from experiments import study as study_runner
from experiments import train
from experiments.studies import _common

STUDY = "cifar_reference"
RESULTS = pathlib.Path(__file__).resolve().parent / "results"
# The fields method_config sets per method; every other field must be shared by all models.
_MIX_FIELDS = ("mix", "cutout_size", "mixup_alpha", "cutmix_alpha", "mix_prob", "mix_kwargs")


def load_cifar(archive: str | os.PathLike, train_size: int = 0):
  """(train arrays, test arrays, DatasetInfo) from the JPEG archive; `train_size` > 0 keeps a
  fixed random subset of the training images (for quick checks)."""
  splits, class_names = image_files.read_image_folder(
      archive, class_names=image_files.CIFAR10_CLASS_NAMES)
  if "train" not in splits or "test" not in splits:
    raise ValueError(f"--archive {archive} must hold train/ and test/ splits, "
                     f"found {sorted(splits)}")
  train_split, test_split = splits["train"], splits["test"]
  if 0 < train_size < len(train_split["label"]):
    keep = np.sort(np.random.default_rng(0).permutation(len(train_split["label"]))[:train_size])
    train_split = {k: v[keep] for k, v in train_split.items()}
  mean, std = image_files.channel_stats(train_split["image"])
  info = data_registry.DatasetInfo(
      name="cifar10_jpeg", num_classes=len(class_names),
      image_shape=tuple(train_split["image"].shape[1:]), num_train=len(train_split["label"]),
      num_eval=len(test_split["label"]), mean=mean, std=std, class_names=class_names)
  return train_split, test_split, info


def method_configs(methods, *, epochs: int, batch_size: int, learning_rate: float,
                   train_size: int, model_kwargs: dict | None = None,
                   half_precision: bool = True):
  """{method: config}: the CPU studies' recipe on PreAct-ResNet-18 (in bfloat16 by default)."""
  configs = {m: _common.method_config(m, dataset="cifar10_jpeg", model="preact_resnet18",
                                      epochs=epochs, batch_size=batch_size,
                                      learning_rate=learning_rate, train_size=train_size,
                                      half_precision=half_precision)
             for m in methods}
  for config in configs.values():
    config.model_kwargs.update(model_kwargs or {})
  shared = {k: v for k, v in next(iter(configs.values())).to_dict().items()
            if k not in _MIX_FIELDS}
  for m, config in configs.items():
    other = {k: v for k, v in config.to_dict().items() if k not in _MIX_FIELDS}
    if other != shared:   # One optimizer and one model serve every stacked model.
      raise ValueError(f"method {m!r} changes more than the mix fields {_MIX_FIELDS}")
  return configs


def crop_and_flip(key: jax.Array, images: jax.Array, pad: int = 4) -> jax.Array:
  """Zero-pad by `pad`, take a random H×W window, mirror half: `input_pipeline.crop_and_flip`
  on device, with the offsets and flips drawn from `key`."""
  b, h, w, c = images.shape
  offset_key, flip_key = jax.random.split(key)
  offsets = jax.random.randint(offset_key, (b, 2), 0, 2 * pad + 1)
  flips = jax.random.bernoulli(flip_key, 0.5, (b,))
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))

  def one(image, offset, flip):
    crop = jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, c))
    return jnp.where(flip, crop[:, ::-1], crop)
  return jax.vmap(one)(padded, offsets, flips)


def warmup_cosine(peak: float, warmup_steps: int, total_steps):
  """`train.make_schedule`'s cosine (optax.warmup_cosine_decay_schedule from 0 to `peak` and
  back to 0) with `total_steps` allowed to be a traced value, so the epochs can be chosen after
  the step is compiled."""
  def schedule(count):
    count = jnp.asarray(count, jnp.float32)
    warm = peak * count / max(warmup_steps, 1)
    decay = jnp.maximum(jnp.asarray(total_steps, jnp.float32) - warmup_steps, 1.0)
    frac = jnp.clip((count - warmup_steps) / decay, 0.0, 1.0)
    return jnp.where(count < warmup_steps, warm, 0.5 * peak * (1.0 + jnp.cos(jnp.pi * frac)))
  return schedule



STACKINGS = ("vmap", "scan")


def make_train_step(configs, info, graphdef, steps_per_epoch: int, stacking: str = "vmap"):
  """jit(step)(states, images, labels, epoch_idx, i, crop_keys, mix_keys, methods, total_steps).

  Stacked models m = 0..M-1 train on images[epoch_idx[i, m]] with their own crop key, mix key
  and method index (into `configs`' order). `stacking`: "vmap" batches the M models into one
  step (XLA turns their convolutions into grouped ones); "scan" runs them one after another
  inside the step (dense convolutions, one compiled model).
  """
  if stacking not in STACKINGS:
    raise ValueError(f"stacking must be one of {STACKINGS}, got {stacking!r}")
  config = next(iter(configs.values()))
  warmup = int(round(config.warmup_epochs * steps_per_epoch))
  augments = [augment.make_augment_fn(c, info) for c in configs.values()]

  def augment_by_method(method, key, images, labels, step=None):
    del step  # No method here schedules its mixing.
    return jax.lax.switch(method, augments, key, images, labels)

  def step(states, images, labels, epoch_idx, i, crop_keys, mix_keys, methods, total_steps):
    idx = jax.lax.dynamic_index_in_dim(epoch_idx, i, keepdims=False)          # [M, B]
    global_step = states.step[0]
    batch_images = jax.vmap(crop_and_flip)(
        jax.vmap(jax.random.fold_in, (0, None))(crop_keys, global_step), images[idx])
    tx = train.make_optimizer(config, warmup_cosine(config.learning_rate, warmup, total_steps))

    def one(state, image, label, mix_key, method):
      return train.train_step(state, {"image": image, "label": label}, mix_key,
                              graphdef=graphdef, tx=tx,
                              augment_fn=functools.partial(augment_by_method, method))
    per_model = (states, batch_images, labels[idx], mix_keys, methods)
    if stacking == "vmap":
      return jax.vmap(one)(*per_model)
    _, out = jax.lax.scan(lambda carry, xs: (carry, one(*xs)), None, per_model)
    return out

  return jax.jit(step)


def init_states(configs, info, seeds):
  """(train graphdef, eval graphdef, stacked TrainState, per-model mix keys, crop keys, method
  ids, run names); models are method-major, seed-minor, and a seed's models share init."""
  config = next(iter(configs.values()))
  tx = train.make_optimizer(config, warmup_cosine(config.learning_rate, 1, 2))
  states, mix_keys, crop_keys, methods, names = [], [], [], [], []
  for m_index, method in enumerate(configs):
    for seed in seeds:
      # As train.train_and_evaluate splits it: init and mix keys from the seed.
      init_key, mix_key = jax.random.split(jax.random.key(seed))
      graphdef, eval_graphdef, state = train.create_train_state(config, info, tx, init_key)
      states.append(state)
      mix_keys.append(mix_key)
      crop_keys.append(jax.random.fold_in(jax.random.key(seed), 1))
      methods.append(m_index)
      names.append((method, seed))
  stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states)
  return (graphdef, eval_graphdef, stacked, jnp.stack(mix_keys), jnp.stack(crop_keys),
          jnp.asarray(methods, jnp.int32), names)


def epoch_batches(names, epoch: int, num_train: int, batch_size: int) -> np.ndarray:
  """int32 [steps, M, B]: each model's batches of `epoch`, a permutation fixed by its seed."""
  steps = num_train // batch_size
  per_seed = {seed: np.random.default_rng([seed, epoch]).permutation(num_train)[
      :steps * batch_size].reshape(steps, batch_size) for seed in {s for _, s in names}}
  return np.stack([per_seed[seed] for _, seed in names], axis=1).astype(np.int32)


def predict_logits(eval_fn, params, batch_stats, images: np.ndarray, chunk: int = 2500):
  """float32 logits [M, N, K] of every stacked model on uint8 images [N, H, W, C]."""
  out, chunk = [], min(chunk, len(images))
  for start in range(0, len(images), chunk):
    part = images[start:start + chunk]
    pad = chunk - len(part)
    if pad:   # One compiled shape.
      part = np.concatenate([part, np.zeros((pad,) + part.shape[1:], part.dtype)])
    out.append(np.asarray(eval_fn(params, batch_stats, part), np.float32)[:, :chunk - pad])
  return np.concatenate(out, axis=1)


def _run_step(step_fn, images, labels, crop_keys, mix_keys, method_ids, states, epoch_idx, i,
              total_steps):
  return step_fn(states, images, labels, epoch_idx, jnp.int32(i), crop_keys, mix_keys,
                 method_ids, jnp.int32(total_steps))


def choose_epochs(seconds_per_step: float, steps_per_epoch: int, budget_s: float,
                  max_epochs: int) -> int:
  """The most whole epochs whose training fits `budget_s` (at least 1, at most `max_epochs`)."""
  return int(max(1, min(max_epochs, budget_s // (seconds_per_step * steps_per_epoch))))


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m experiments.cifar_reference",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--archive", required=True, help="cifar10-jpeg.tar.gz (or its folder)")
  length = parser.add_mutually_exclusive_group(required=True)
  length.add_argument("--epochs", type=int, help="epochs per model")
  length.add_argument("--budget-s", type=float,
                      help="train for the most whole epochs that fit this many seconds")
  parser.add_argument("--max-epochs", type=int, default=200)
  parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  parser.add_argument("--methods", nargs="+", default=list(_common.METHODS),
                      choices=_common.METHODS)
  parser.add_argument("--batch-size", type=int, default=256)
  parser.add_argument("--learning-rate", type=float, default=0.2,
                      help="peak; 0.1 per 128 images as in the CPU studies")
  parser.add_argument("--train-size", type=int, default=0, help="0: all training images")
  parser.add_argument("--width", type=int, default=64, help="ResNet base width (64: the reference)")
  parser.add_argument("--stacking", default="auto", choices=("auto",) + STACKINGS,
                      help="how the models share a step; auto: the faster after 20 steps each")
  parser.add_argument("--test-size", type=int, default=0, help="0: all test images")
  parser.add_argument("--name", default=STUDY,
                      help="the result set's name (its JSONs' study field and report section)")
  parser.add_argument("--out", type=pathlib.Path, default=None,
                      help="where the JSONs go (default experiments/results/<--name>)")
  parser.add_argument("--code-commit", default=None,
                      help="commit of this code, recorded instead of the host's git HEAD "
                           "(a device copy's .git may be stale)")
  args = parser.parse_args(argv)
  for name in ("epochs", "budget_s", "batch_size", "max_epochs"):
    if getattr(args, name) is not None and getattr(args, name) <= 0:
      parser.error(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
  if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
    parser.error(f"--seeds must be distinct and >= 0, got {args.seeds}")
  if not os.path.exists(args.archive):
    parser.error(f"--archive {args.archive} does not exist")
  if not re.fullmatch(r"[a-z0-9_]+", args.name):
    parser.error(f"--name must be lowercase letters, digits and _, got {args.name!r}")
  args.out = args.out or RESULTS / args.name

  t_start = time.perf_counter()
  train_split, test_split, info = load_cifar(args.archive, args.train_size)
  if info.num_train < args.batch_size:
    parser.error(f"--batch-size {args.batch_size} exceeds the {info.num_train} training images")
  steps_per_epoch = info.num_train // args.batch_size
  print(f"decoded {info.num_train} train / {info.num_eval} test images in "
        f"{time.perf_counter() - t_start:.1f}s on {jax.devices()[0].device_kind}", flush=True)
  model_kwargs = {"width": args.width} if args.width != 64 else {}
  configs = method_configs(args.methods, epochs=args.epochs or 1, batch_size=args.batch_size,
                           learning_rate=args.learning_rate, train_size=args.train_size,
                           model_kwargs=model_kwargs)
  graphdef, eval_graphdef, states, mix_keys, crop_keys, method_ids, names = init_states(
      configs, info, args.seeds)
  images, labels = jnp.asarray(train_split["image"]), jnp.asarray(train_split["label"], jnp.int32)
  idx = jnp.asarray(epoch_batches(names, 0, info.num_train, args.batch_size))

  # Compile each candidate stacking and time 20 steps of it on a throwaway copy of the initial
  # models; train with the fastest (and, for --budget-s, as many epochs as fit).
  probes, steppers = {}, {}
  for stacking in (STACKINGS if args.stacking == "auto" else (args.stacking,)):
    step_fn = make_train_step(configs, info, graphdef, steps_per_epoch, stacking)
    steppers[stacking] = functools.partial(_run_step, step_fn, images, labels, crop_keys,
                                           mix_keys, method_ids)
    t0 = time.perf_counter()
    probe = jax.block_until_ready(steppers[stacking](states, idx, 0, steps_per_epoch))[0]
    compile_s = time.perf_counter() - t0
    n_probe = min(20, steps_per_epoch)
    t0 = time.perf_counter()
    for i in range(n_probe):
      probe, _ = steppers[stacking](probe, idx, i, steps_per_epoch)
    jax.block_until_ready(probe)
    probes[stacking] = {"compile_s": compile_s,
                        "ms_per_step": 1e3 * (time.perf_counter() - t0) / n_probe}
    print(f"{stacking}: compiled in {compile_s:.0f}s, {probes[stacking]['ms_per_step']:.1f} ms "
          f"per step of {len(names)} models", flush=True)
  stacking = min(probes, key=lambda k: probes[k]["ms_per_step"])
  run_step = steppers[stacking]
  epochs = args.epochs or choose_epochs(probes[stacking]["ms_per_step"] / 1e3, steps_per_epoch,
                                        args.budget_s, args.max_epochs)
  print(f"training with {stacking} for {epochs} epochs", flush=True)
  configs = method_configs(args.methods, epochs=epochs, batch_size=args.batch_size,
                           learning_rate=args.learning_rate, train_size=args.train_size,
                           model_kwargs=model_kwargs)
  total_steps = epochs * steps_per_epoch

  t_train = time.perf_counter()
  history = []
  for epoch in range(epochs):
    idx = jnp.asarray(epoch_batches(names, epoch, info.num_train, args.batch_size))
    step_metrics = []
    for i in range(steps_per_epoch):
      states, out = run_step(states, idx, i, total_steps)
      step_metrics.append(out)
    means = jax.tree_util.tree_map(lambda *xs: np.mean(np.stack(xs), axis=0),
                                   *jax.device_get(step_metrics))
    if not np.all(np.isfinite(means["loss"])):
      raise train.NonFiniteLossError(f"non-finite training loss in epoch {epoch + 1}: "
                                     f"{dict(zip(names, means['loss']))}")
    history.append({"epoch": float(epoch + 1), "train_loss": means["loss"],
                    "train_accuracy": means["accuracy"]})
    print(f"epoch {epoch + 1}/{epochs}: {time.perf_counter() - t_train:.0f}s, train accuracy "
          + " ".join(f"{a:.3f}" for a in means["accuracy"]), flush=True)
  train_s = time.perf_counter() - t_train

  eval_one = functools.partial(train.eval_logits, graphdef=eval_graphdef, mean=info.mean,
                               std=info.std)
  eval_all = jax.jit(jax.vmap(eval_one, in_axes=(0, 0, None)))
  test_images, test_labels = test_split["image"], np.asarray(test_split["label"])
  if 0 < args.test_size < len(test_labels):   # A fixed random subset (the split is by class).
    keep = np.sort(np.random.default_rng(1).permutation(len(test_labels))[:args.test_size])
    test_images, test_labels = test_images[keep], test_labels[keep]
  logits = predict_logits(eval_all, states.params, states.batch_stats, test_images)
  write_results(args, configs, info, names, states, eval_all, logits, test_images, test_labels,
                history, epochs, steps_per_epoch, train_s, stacking, probes)
  print(f"done in {time.perf_counter() - t_start:.0f}s ({train_s:.0f}s training); "
        f"results in {args.out}", flush=True)
  return 0


def write_results(args, configs, info, names, states, eval_all, logits, test_images, test_labels,
                  history, epochs, steps_per_epoch, train_s, stacking, probes) -> None:
  """One JSON per model, in the study runner's schema, so `experiments.report` reads them."""
  # A device copy of the tree may carry a stale .git: the commit named on the command wins.
  commit, dirty = ((args.code_commit, False) if args.code_commit
                   else study_runner.git_commit())
  argv = ["python", "-m", "experiments.cifar_reference", "--archive", "cifar10-jpeg.tar.gz",
          "--epochs", str(epochs), "--batch-size", str(args.batch_size),
          "--learning-rate", str(args.learning_rate), "--stacking", stacking]
  for flag in ("train_size", "test_size"):
    if getattr(args, flag):
      argv += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
  if list(args.methods) != list(_common.METHODS):
    argv += ["--methods", *args.methods]
  if list(args.seeds) != [0, 1, 2]:
    argv += ["--seeds", *map(str, args.seeds)]
  if args.width != 64:
    argv += ["--width", str(args.width)]
  if args.name != STUDY:
    argv += ["--name", args.name]
  command = shlex.join(argv)
  n_models = len(names)
  args.out.mkdir(parents=True, exist_ok=True)
  for m, (method, seed) in enumerate(names):
    model_state = jax.tree_util.tree_map(lambda a, m=m: a[m], states)
    predict = functools.partial(_predict_one, eval_all, model_state)
    calibration = analysis.calibration(logits[m], test_labels)
    config = configs[method].copy_and_resolve_references()
    config.seed = seed
    result = {
        "study": args.name, "run": f"{method}/seed{seed}",
        "tags": {"method": method, "seed": seed},
        "seed": seed, "config": config.to_dict(),
        "summary": {
            "eval_accuracy": float((logits[m].argmax(-1) == test_labels).mean()),
            "eval_nll": analysis.nll(logits[m], test_labels),
            "eval_ece": analysis.ece(logits[m], test_labels),
            "steps": epochs * steps_per_epoch, "model": config.model, "mix": config.mix,
            "dataset": config.dataset, "wall_time_s": train_s,
            # All stacked models together: they train in the same steps.
            "images_per_sec": n_models * epochs * steps_per_epoch * args.batch_size / train_s,
            "models_stacked": n_models, "stacking": stacking, "stacking_probes": probes},
        "epochs": [{"epoch": h["epoch"], "train_loss": float(h["train_loss"][m]),
                    "train_accuracy": float(h["train_accuracy"][m])} for h in history],
        "analysis": {"calibration": calibration,
                     "occlusion": analysis.occlusion_curves(predict, test_images, test_labels,
                                                            mean=info.mean)},
        "train_images": epochs * steps_per_epoch * args.batch_size,
        "wall_time_s": train_s, "device": study_runner.device_info(), "host": platform.node(),
        "git_commit": commit, "git_dirty": dirty,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": command, "study_command": command,
    }
    path = args.out / f"{method}__seed{seed}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True, default=float) + "\n")
    os.replace(tmp, path)
    print(f"{method}/seed{seed}: test accuracy {result['summary']['eval_accuracy']:.4f}, "
          f"ECE {calibration['ece']:.4f}", flush=True)


def _predict_one(eval_all, model_state, images):
  """Class ids of one model (a slice of the stacked state) on uint8 images."""
  one = jax.tree_util.tree_map(lambda a: a[None], model_state)
  return predict_logits(eval_all, one.params, one.batch_stats, images)[0].argmax(-1)


if __name__ == "__main__":
  sys.exit(main())
