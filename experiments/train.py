r"""Trains a ResNet with CutMix / Mixup / Cutout (jaxmix) and evaluates it.

  python -m experiments.train --config experiments/configs/quickstart.py \
      --workdir runs/quickstart --config.num_epochs=2

The path of one batch: `input_pipeline.train_batches` yields uint8 images on the host →
`shard_batch` makes a global array sharded over the "data" axis of a Mesh of all devices →
`train_step`: key = fold_in(base_key, step) → `mix_batch` (jaxmix.mix on uint8 pixels,
so CutMix copies pixels exactly; Mixup blends in float32) → normalize by the dataset
mean/std → model in train mode (BatchNorm uses and updates batch statistics; the
statistics are global because the batch is one sharded array) → soft-label cross-entropy
→ SGD + Nesterov (optax) with weight decay on kernels only.

Parameters, batch statistics and optimizer state are replicated; partners for mixing are
chosen within each device's shard (`MixConfig.num_shards = jax.device_count()`), so
mixing needs no communication. Checkpoints (orbax, atomic, last N kept) hold the whole
train state; the data iterator is a pure function of (seed, step), so resuming from a
checkpoint replays exactly the batches an uninterrupted run would see.
"""

from collections.abc import Mapping
import csv
import functools
import json
import os
import signal
import sys
import threading
import time
from typing import Any

from absl import app
from absl import flags
from absl import logging
from flax import nnx
import flax.struct
import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import jax.numpy as jnp
import jaxmix
import ml_collections
from ml_collections import config_flags
import numpy as np
import optax

from experiments import checkpointing
from experiments import evaluate
from experiments import models

MIX_CHOICES = ("none", "cutout", "mixup", "cutmix", "mix")
SCHEDULES = ("cosine", "multistep")
_NO_BAD_STEP = np.iinfo(np.int32).max


class NonFiniteLossError(FloatingPointError):
  """The training loss became NaN or inf; no checkpoint was written after it."""

  def __init__(self, message: str, step: int):
    super().__init__(message)
    self.step = step


@flax.struct.dataclass
class TrainState:
  step: jax.Array        # int32 scalar: number of optimizer updates applied.
  params: Any            # pure dict of float32 arrays.
  batch_stats: Any       # pure dict: BatchNorm running mean / var.
  opt_state: Any


# ----------------------------------------------------------------------------- setup


def validate_config(config: ml_collections.ConfigDict) -> None:
  if config.mix not in MIX_CHOICES:
    raise ValueError(f"config.mix must be one of {list(MIX_CHOICES)}, got {config.mix!r}")
  if config.schedule not in SCHEDULES:
    raise ValueError(f"config.schedule must be one of {list(SCHEDULES)}, "
                     f"got {config.schedule!r}")
  if config.model not in models.MODELS:
    raise ValueError(f"Unknown model {config.model!r}; choose one of "
                     f"{sorted(models.MODELS)}")
  from experiments import input_pipeline  # pylint: disable=g-import-not-at-top
  if config.dataset not in input_pipeline.DATASETS:
    raise ValueError(f"Unknown dataset {config.dataset!r}; choose one of "
                     f"{list(input_pipeline.DATASETS)}")


def make_mesh() -> Mesh:
  return jax.make_mesh((jax.device_count(),), ("data",))


def mix_num_shards(config) -> int:
  return jax.device_count() if config.mix_num_shards <= 0 else config.mix_num_shards


def make_mix_config(config, num_classes: int, num_shards: int):
  """The jaxmix.MixConfig for config.mix (None for "none" and "cutout")."""
  if config.mix in ("none", "cutout"):
    return None
  return jaxmix.MixConfig(
      mixup_alpha=config.mixup_alpha if config.mix in ("mixup", "mix") else 0.0,
      cutmix_alpha=config.cutmix_alpha if config.mix in ("cutmix", "mix") else 0.0,
      prob=config.mix_prob,
      switch_prob=config.switch_prob if config.mix == "mix" else 0.5,
      mode=config.mix_mode, partner=config.mix_partner,
      correct_lam=config.correct_lam, label_smoothing=config.label_smoothing,
      num_classes=num_classes, num_shards=num_shards)


def make_schedule(config, steps_per_epoch: int, total_steps: int) -> optax.Schedule:
  """Cosine decay to 0 with linear warmup, or multi-step decay; plus the NaN test hook."""
  warmup = int(round(config.warmup_epochs * steps_per_epoch))
  if config.schedule == "cosine":
    base = optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=config.learning_rate, warmup_steps=warmup,
        decay_steps=max(total_steps, warmup + 1), end_value=0.0)
  else:
    boundaries = {int(e * steps_per_epoch): config.lr_decay_factor
                  for e in config.lr_boundaries_epochs}
    base = optax.piecewise_constant_schedule(config.learning_rate, boundaries)
    if warmup:
      base = optax.join_schedules(
          [optax.linear_schedule(0.0, config.learning_rate, warmup), base], [warmup])
  if config.debug_lr_spike_step < 0:
    return base
  spike_step, spike = config.debug_lr_spike_step, config.debug_lr_spike
  return lambda step: base(step) * jnp.where(step >= spike_step, spike, 1.0)


def make_optimizer(config, schedule: optax.Schedule) -> optax.GradientTransformation:
  """SGD with (Nesterov) momentum and L2 weight decay on conv/dense kernels only.

  Decay is coupled (added to the gradient before momentum) as in torch.optim.SGD; it
  skips BatchNorm scales/offsets and biases (arrays with ndim <= 1).
  """
  if config.optimizer != "sgd":
    raise ValueError(f"config.optimizer must be 'sgd', got {config.optimizer!r}")
  decay_mask = lambda params: jax.tree_util.tree_map(lambda p: p.ndim > 1, params)
  return optax.chain(
      optax.add_decayed_weights(config.weight_decay, mask=decay_mask),
      optax.sgd(schedule, momentum=config.momentum, nesterov=config.nesterov))


def create_model_and_state(config, num_classes: int, tx, key):
  """Builds the model and its TrainState; returns (train_graphdef, eval_graphdef, state).

  The graphdefs differ only in BatchNorm's `use_running_average` (train vs eval mode).
  """
  dtype = jnp.bfloat16 if config.half_precision else jnp.float32
  model = models.create_model(config.model, num_classes, nnx.Rngs(params=key),
                              dtype=dtype, **dict(config.model_kwargs))
  model.train()
  train_graphdef, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  model.eval()
  eval_graphdef, _, _ = nnx.split(model, nnx.Param, nnx.BatchStat)
  params, batch_stats = nnx.to_pure_dict(params), nnx.to_pure_dict(batch_stats)
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params,
                     batch_stats=batch_stats, opt_state=tx.init(params))
  return train_graphdef, eval_graphdef, state


# ----------------------------------------------------------------------------- steps


def normalize(images: jax.Array, mean, std) -> jax.Array:
  """uint8-range images → (x - mean) / std in float32 (mean/std in 0..255 units)."""
  mean = jnp.asarray(mean, jnp.float32)
  std = jnp.asarray(std, jnp.float32)
  return (images.astype(jnp.float32) - mean) / std


def mix_batch(key, images, labels, *, config, mix_config, num_classes, mean, std):
  """Applies config.mix to a uint8 batch; returns normalized float32 images, label rows.

  CutMix runs on the uint8 pixels (exact copies) and Mixup on float32 pixels in 0..255
  (a blend must not be rounded); normalization follows, as it is per-pixel affine.
  Cutout runs after normalization with fill 0, i.e. the dataset mean, as the reference
  code erases normalized tensors (DeVries & Taylor 2017).
  """
  if mix_config is not None:
    if config.mix in ("mixup", "mix"):
      images = images.astype(jnp.float32)
    images, rows = jaxmix.mix(key, images, labels, mix_config)
  else:
    rows = jaxmix.one_hot(labels, num_classes, smoothing=config.label_smoothing)
  x = normalize(images, mean, std)
  if config.mix == "cutout":
    x = jaxmix.cutout(key, x, size=config.cutout_size, fill=0.0, mode="elem")
  return x, rows


def train_step(state: TrainState, acc: dict, batch: Mapping[str, jax.Array],
               base_key: jax.Array, *, graphdef, tx, config, mix_config,
               num_classes, mean, std):
  """One SGD update; `acc` accumulates loss / accuracy sums and the first non-finite step."""
  key = jax.random.fold_in(base_key, state.step)
  images, rows = mix_batch(key, batch["image"], batch["label"], config=config,
                           mix_config=mix_config, num_classes=num_classes,
                           mean=mean, std=std)

  def loss_fn(params):
    model = nnx.merge(graphdef, params, state.batch_stats)
    logits = model(images)
    loss = optax.softmax_cross_entropy(logits, rows).mean()
    batch_stats = nnx.to_pure_dict(nnx.state(model, nnx.BatchStat))
    return loss, (logits, batch_stats)

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  new_state = TrainState(step=state.step + 1, params=params,
                         batch_stats=batch_stats, opt_state=opt_state)
  # Accuracy against the dominant class of the (mixed) label row.
  correct = jnp.mean(jnp.argmax(logits, -1) == jnp.argmax(rows, -1))
  acc = {
      "loss": acc["loss"] + loss,
      "accuracy": acc["accuracy"] + correct,
      "steps": acc["steps"] + 1,
      "first_bad_step": jnp.where(jnp.isfinite(loss), acc["first_bad_step"],
                                  jnp.minimum(acc["first_bad_step"], state.step)),
  }
  return new_state, acc


def empty_accumulator():
  return {"loss": jnp.zeros((), jnp.float32), "accuracy": jnp.zeros((), jnp.float32),
          "steps": jnp.zeros((), jnp.int32),
          "first_bad_step": jnp.full((), _NO_BAD_STEP, jnp.int32)}


def eval_logits(params, batch_stats, images, *, graphdef, mean, std):
  """Logits in eval mode (running BatchNorm statistics, which are not updated)."""
  model = nnx.merge(graphdef, params, batch_stats)
  return model(normalize(images, mean, std))


def eval_step(params, batch_stats, batch, *, graphdef, mean, std):
  logits = eval_logits(params, batch_stats, batch["image"], graphdef=graphdef,
                       mean=mean, std=std)
  sums = evaluate.batch_sums(logits, batch["label"], batch["mask"])
  return sums, logits, batch["label"], batch["mask"]


# ----------------------------------------------------------------------------- data


def shard_batch(batch: Mapping[str, np.ndarray], sharding) -> dict[str, jax.Array]:
  """This process's slice of the global batch → global arrays sharded on the batch axis."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}


def pad_batch(batch: Mapping[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
  """Pads an eval batch to `size` rows (mask False), keeping one compiled shape."""
  n = len(batch["label"])
  out = {}
  for k, v in batch.items():
    v = np.asarray(v)
    if n < size:
      v = np.concatenate([v, np.zeros((size - n,) + v.shape[1:], v.dtype)])
    out[k] = v
  if "mask" not in batch:
    out["mask"] = np.arange(size) < n
  return out


# ----------------------------------------------------------------------------- logging


class MetricWriter:
  """Per-epoch rows to metrics.jsonl, metrics.csv and TensorBoard (process 0 only)."""

  def __init__(self, workdir: str, enabled: bool = True):
    self.enabled = enabled
    self.workdir = workdir
    self._tb = None
    if enabled:
      import tensorboardX  # Imported lazily: only the writing process needs it.
      self._tb = tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, row: Mapping[str, Any]) -> None:
    if not self.enabled:
      return
    row = {k: (float(v) if isinstance(v, (np.floating, np.integer, jax.Array)) else v)
           for k, v in row.items()}
    with open(os.path.join(self.workdir, "metrics.jsonl"), "a") as f:
      f.write(json.dumps(row) + "\n")
    path = os.path.join(self.workdir, "metrics.csv")
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
      fields = sorted(row)
      if not new:  # Keep the header of the first row (a resumed run appends).
        with open(path) as r:
          fields = next(csv.reader(r))
      w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
      if new:
        w.writeheader()
      w.writerow(row)
    for k, v in row.items():
      if isinstance(v, (int, float)) and k not in ("step", "epoch"):
        self._tb.add_scalar(k, v, row["step"])
    self._tb.flush()

  def close(self):
    if self._tb is not None:
      self._tb.close()


def format_summary(rows: Mapping[str, Any]) -> str:
  """A two-column table of the final metrics."""
  width = max(len(k) for k in rows)
  lines = ["-" * (width + 18)]
  for k, v in rows.items():
    v = f"{v:.4f}" if isinstance(v, float) else str(v)
    lines.append(f"{k:<{width}}  {v:>14}")
  lines.append(lines[0])
  return "\n".join(lines)


class _Preemption:
  """SIGTERM → finish the current step, checkpoint, exit (main thread only)."""

  def __init__(self):
    self.requested = False
    self._previous = None
    if threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def restore(self):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


# ----------------------------------------------------------------------------- loop


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains for config.num_epochs (or num_train_steps), resuming from workdir if possible.

  Returns the final eval metrics (plus throughput). Raises NonFiniteLossError if the loss
  becomes NaN/inf; every checkpoint is written only after checking that all losses up to
  it were finite.
  """
  from experiments import input_pipeline  # Owned by the data pipeline.

  validate_config(config)
  info = input_pipeline.get_info(config.dataset, data_dir=config.data_dir)
  is_chief = jax.process_index() == 0
  os.makedirs(workdir, exist_ok=True)
  if is_chief:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort(indent=2))

  pcount, pindex = jax.process_count(), jax.process_index()
  if config.batch_size % jax.device_count():
    raise ValueError(f"batch_size {config.batch_size} must be divisible by the "
                     f"device count {jax.device_count()}")
  num_shards = mix_num_shards(config)
  if config.batch_size % num_shards:
    raise ValueError(f"batch_size {config.batch_size} must be divisible by "
                     f"mix_num_shards {num_shards}")
  eval_batch_size = -(-config.eval_batch_size // jax.device_count()) * jax.device_count()

  steps_per_epoch = max(1, info.num_train // config.batch_size)
  total_steps = (config.num_train_steps if config.num_train_steps > 0
                 else int(config.num_epochs * steps_per_epoch))

  mesh = make_mesh()
  replicated = NamedSharding(mesh, P())
  data_sharding = NamedSharding(mesh, P("data"))

  schedule = make_schedule(config, steps_per_epoch, total_steps)
  tx = make_optimizer(config, schedule)
  root_key = jax.random.key(config.seed)
  init_key, mix_key = jax.random.split(root_key)
  train_graphdef, eval_graphdef, state = create_model_and_state(
      config, info.num_classes, tx, init_key)
  num_params = sum(x.size for x in jax.tree_util.tree_leaves(state.params))
  state = jax.device_put(state, replicated)

  ckpt = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"),
                                    keep=config.keep_checkpoints)
  state = ckpt.restore_latest(state)
  start_step = int(state.step)
  if start_step:
    logging.info("Resumed from checkpoint at step %d", start_step)

  mix_config = make_mix_config(config, info.num_classes, num_shards)
  p_train_step = jax.jit(
      functools.partial(train_step, graphdef=train_graphdef, tx=tx, config=config,
                        mix_config=mix_config, num_classes=info.num_classes,
                        mean=tuple(info.mean), std=tuple(info.std)),
      in_shardings=(replicated, replicated, data_sharding, replicated),
      out_shardings=(replicated, replicated), donate_argnums=(0, 1))
  p_eval_step = jax.jit(
      functools.partial(eval_step, graphdef=eval_graphdef, mean=tuple(info.mean),
                        std=tuple(info.std)),
      in_shardings=(replicated, replicated, data_sharding),
      out_shardings=replicated)

  def run_eval(state, collect_logits=False):
    sums, all_logits, all_labels = None, [], []
    for batch in input_pipeline.eval_batches(
        config.dataset, batch_size=eval_batch_size, data_dir=config.data_dir,
        process_index=pindex, process_count=pcount):
      batch = pad_batch({k: batch[k] for k in ("image", "label", "mask")},
                        eval_batch_size // pcount)
      s, logits, labels, mask = p_eval_step(state.params, state.batch_stats,
                                            shard_batch(batch, data_sharding))
      sums = s if sums is None else jax.tree_util.tree_map(jnp.add, sums, s)
      if collect_logits:   # Replicated outputs: every process reads all rows.
        mask = np.asarray(mask)
        all_logits.append(np.asarray(logits)[mask])
        all_labels.append(np.asarray(labels)[mask])
    out = evaluate.summarize(jax.device_get(sums))
    if collect_logits:
      return out, np.concatenate(all_logits), np.concatenate(all_labels)
    return out

  writer = MetricWriter(workdir, enabled=is_chief)
  preempt = _Preemption()
  acc = jax.device_put(empty_accumulator(), replicated)
  train_iter = input_pipeline.train_batches(
      config.dataset, batch_size=config.batch_size, seed=config.seed,
      data_dir=config.data_dir, start_step=start_step, augment=config.augment,
      process_index=pindex, process_count=pcount)

  def check_finite(acc):
    bad = int(acc["first_bad_step"])
    if bad != _NO_BAD_STEP:
      raise NonFiniteLossError(
          f"Training loss became non-finite at step {bad + 1} (learning rate "
          f"{float(schedule(bad)):.4g}). Stopping; no checkpoint was written after "
          f"that step (latest checkpoint: step {ckpt.latest_step()}). Lower "
          f"config.learning_rate, enable warmup, or check the data.", step=bad + 1)

  def save(state, acc):
    check_finite(acc)   # Blocks until every step so far has finished.
    ckpt.save(int(state.step), state)

  logging.info("%s on %s: %d params, %d steps (%d per epoch), %d devices, %d processes",
               config.model, config.dataset, num_params, total_steps, steps_per_epoch,
               jax.device_count(), pcount)
  bar = None
  if config.progress_bar and is_chief:
    import tqdm
    bar = tqdm.tqdm(total=total_steps * config.batch_size,
                    initial=start_step * config.batch_size, unit="img",
                    unit_scale=True, dynamic_ncols=True, desc="train")

  window_start, window_steps = time.perf_counter(), 0
  images_per_sec = float("nan")
  epoch_sums = {"loss": 0.0, "accuracy": 0.0, "steps": 0}
  train_summary: dict[str, float] = {}
  last_eval: dict[str, float] = {}
  best_accuracy = 0.0
  t0 = time.perf_counter()
  step = start_step
  try:
    for step in range(start_step + 1, total_steps + 1):
      batch = shard_batch(next(train_iter), data_sharding)
      state, acc = p_train_step(state, acc, batch, mix_key)
      window_steps += 1
      if bar is not None:
        bar.update(config.batch_size)
      if config.debug_step_delay_s > 0:
        time.sleep(config.debug_step_delay_s)
      epoch_end = step % steps_per_epoch == 0 or step == total_steps
      if step % config.log_every_steps == 0 or epoch_end:
        host_acc = jax.device_get(acc)   # The only per-window host sync.
        check_finite(host_acc)
        acc = jax.device_put({**empty_accumulator(),
                              "first_bad_step": acc["first_bad_step"]}, replicated)
        images_per_sec = (window_steps * config.batch_size
                          / max(time.perf_counter() - window_start, 1e-9))
        n = max(int(host_acc["steps"]), 1)
        for k in epoch_sums:
          epoch_sums[k] += float(host_acc[k])
        row = {"step": step, "loss": float(host_acc["loss"]) / n,
               "accuracy": float(host_acc["accuracy"]) / n,
               "learning_rate": float(schedule(step - 1)),
               "images_per_sec": images_per_sec}
        if is_chief:
          with open(os.path.join(workdir, "train_log.jsonl"), "a") as f:
            f.write(json.dumps(row) + "\n")
        if bar is not None:
          bar.set_postfix(loss=f"{row['loss']:.3f}", img_s=f"{images_per_sec:.0f}")
        window_start, window_steps = time.perf_counter(), 0
      if step % config.checkpoint_every_steps == 0 or step == total_steps:
        save(state, acc)
      if epoch_end:
        n = max(epoch_sums["steps"], 1)
        train_summary = {"train_loss": epoch_sums["loss"] / n,
                         "train_accuracy": epoch_sums["accuracy"] / n}
        epoch_sums = {"loss": 0.0, "accuracy": 0.0, "steps": 0}
        epoch = step / steps_per_epoch
        final = step == total_steps
        if final or (int(round(epoch)) % config.eval_every_epochs == 0):
          if final and config.save_eval_logits:
            last_eval, logits, labels = run_eval(state, collect_logits=True)
            if is_chief:
              np.savez(os.path.join(workdir, "eval_logits.npz"), logits=logits,
                       labels=labels)
          else:
            last_eval = run_eval(state)
          best_accuracy = max(best_accuracy, last_eval["accuracy"])
          writer.write({"step": step, "epoch": epoch, **train_summary,
                        "learning_rate": float(schedule(step - 1)),
                        "images_per_sec": images_per_sec,
                        **{f"eval_{k}": v for k, v in last_eval.items()
                           if k != "count"}})
      if preempt.requested and step < total_steps:
        save(state, acc)
        ckpt.wait()
        raise SystemExit(f"SIGTERM: checkpointed step {step} in {workdir}; rerun the "
                         "same command to resume.")
  finally:
    # Pending async saves finish even when training stops with an error.
    if bar is not None:
      bar.close()
    preempt.restore()
    ckpt.wait()
    ckpt.close()
    writer.close()
  if not last_eval:   # Resumed at the end: nothing was trained or evaluated.
    last_eval = run_eval(state)
  summary = {"model": config.model, "dataset": config.dataset, "mix": config.mix,
             "steps": int(step), "params": int(num_params),
             "eval_accuracy": last_eval["accuracy"], "eval_top5": last_eval["top5"],
             "eval_nll": last_eval["nll"], "eval_ece": last_eval["ece"],
             "best_eval_accuracy": max(best_accuracy, last_eval["accuracy"]),
             "train_loss": train_summary.get("train_loss", float("nan")),
             "images_per_sec": images_per_sec,
             "wall_time_s": time.perf_counter() - t0}
  if is_chief:
    with open(os.path.join(workdir, "summary.json"), "w") as f:
      json.dump(summary, f, indent=2)
  return summary


# ----------------------------------------------------------------------------- CLI

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The CLI flags (defined on demand so that importing this module defines none)."""
  flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics.")
  config_flags.DEFINE_config_file(
      "config", None, "Path to a config file in experiments/configs/.",
      lock_config=True)
  flags.DEFINE_string(
      "coordinator_address", None, "host:port of process 0 for jax.distributed "
      "(multi-process); with config.distributed=True and no address, JAX detects the "
      "cluster (SLURM, TPU pods, ...).")
  flags.DEFINE_integer("num_processes", None, "Processes in the job.")
  flags.DEFINE_integer("process_id", None, "Index of this process.")


def maybe_initialize_distributed(config, coordinator_address=None,
                                 num_processes=None, process_id=None) -> None:
  """jax.distributed.initialize from flags, JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES /
  JAX_PROCESS_ID, or (config.distributed) the cluster environment."""
  address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS")
  if address:
    jax.distributed.initialize(
        coordinator_address=address,
        num_processes=num_processes or int(os.environ["JAX_NUM_PROCESSES"]),
        process_id=(process_id if process_id is not None
                    else int(os.environ["JAX_PROCESS_ID"])))
  elif config.distributed:
    jax.distributed.initialize()


def check_config_overrides(argv: list[str]) -> None:
  """Fails fast, listing the valid fields, on `--config.<field>` overrides of unknown fields.

  (config_flags itself only raises a bare AttributeError naming the key.)
  """
  import difflib
  import importlib.util
  path = None
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      path = arg.split("=", 1)[1]
    elif arg == "--config" and i + 1 < len(argv):
      path = argv[i + 1]
  if path is None or not os.path.exists(path.split(":", 1)[0]):
    return   # config_flags reports a missing or absent config file itself.
  spec = importlib.util.spec_from_file_location("_config", path.split(":", 1)[0])
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  for arg in argv:
    if not arg.startswith("--config."):
      continue
    name = arg[len("--config."):].split("=", 1)[0]
    node, parts = config, name.split(".")
    for depth, part in enumerate(parts):
      fields = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
      if part not in fields:
        where = ".".join(parts[:depth]) or "config"
        close = difflib.get_close_matches(part, fields, n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise app.UsageError(
            f"Unknown config field {name!r} in {path}.{hint} Fields of {where}: "
            f"{sorted(fields)}")
      node = node[part]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if FLAGS.config is None or FLAGS.workdir is None:
    raise app.UsageError("--config and --workdir are required.")
  config = FLAGS.config
  try:
    validate_config(config)
  except ValueError as e:
    raise SystemExit(f"error: {e}") from None
  maybe_initialize_distributed(config, FLAGS.coordinator_address,
                               FLAGS.num_processes, FLAGS.process_id)
  logging.set_verbosity(logging.WARNING)
  try:
    summary = train_and_evaluate(config, FLAGS.workdir)
  except NonFiniteLossError as e:
    raise SystemExit(f"error: {e}") from None
  if jax.process_index() == 0:
    print(format_summary(summary))


if __name__ == "__main__":
  define_flags()
  try:
    check_config_overrides(sys.argv[1:])
  except app.UsageError as e:
    sys.exit(f"error: {e}")
  app.run(main)
