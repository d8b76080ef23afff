r"""Trains a ResNet with CutMix / Mixup / Cutout (jaxmix) and evaluates it.

  python -m experiments.main --config experiments/configs/quickstart.py --workdir runs/q
  (`python -m experiments.train ...` is the same command.)

The path of one batch: `input_pipeline.train_batches` yields this process's slice of a uint8
global batch → `shard_batch` makes it one global array sharded over the "data" axis of a Mesh
of all devices → `train_step`: key = fold_in(mix_key, step) → `augment_fn` (augment.py: mix on
uint8 / float pixels → normalize with the dataset mean/std → Cutout) → model in train mode
(BatchNorm statistics are global because the batch is one sharded array) → soft-label
cross-entropy → SGD + Nesterov (optax) with weight decay on kernels only.

Parameters, batch statistics and optimizer state are replicated; partners for mixing are chosen
within each device's shard, so mixing needs no communication. Checkpoints (checkpointing.py)
hold the train state and the data iterator's position, so a resumed run sees exactly the
batches an uninterrupted run would see.
"""

from collections.abc import Callable, Mapping
import dataclasses
import functools
import json
import math
import os
import time
from typing import Any

from flax import nnx
import flax.struct
import jax
from jax.sharding import NamedSharding, PartitionSpec as P
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments import augment
from experiments import checkpointing
from experiments.eval import metrics
from experiments import models

SCHEDULES = ("cosine", "multistep")
NonFiniteLossError = metrics.NonFiniteLossError


@flax.struct.dataclass
class TrainState:
  step: jax.Array        # int32 scalar: number of optimizer updates applied.
  params: Any            # pure dict of float32 arrays.
  batch_stats: Any       # pure dict: BatchNorm running mean / var.
  opt_state: Any


def validate_config(config: ml_collections.ConfigDict) -> None:
  """One-line ValueErrors for settings that cannot train (checked before any work is done)."""
  if config.mix not in augment.MIX_CHOICES:
    raise ValueError(f"config.mix must be one of {list(augment.MIX_CHOICES)}, got {config.mix!r}")
  if config.schedule not in SCHEDULES:
    raise ValueError(f"config.schedule must be one of {list(SCHEDULES)}, got {config.schedule!r}")
  if config.model not in models.MODELS:
    raise ValueError(f"config.model must be one of {sorted(models.MODELS)}, got {config.model!r}")
  if config.optimizer != "sgd":
    raise ValueError(f"config.optimizer must be 'sgd', got {config.optimizer!r}")
  for name in ("batch_size", "eval_batch_size", "log_every_steps", "checkpoint_every_steps",
               "eval_every_epochs", "keep_checkpoints"):
    if config[name] <= 0:
      raise ValueError(f"config.{name} must be > 0, got {config[name]}")
  if config.num_train_steps <= 0 and not config.num_epochs > 0:
    raise ValueError(f"config.num_epochs must be > 0 (or set config.num_train_steps > 0), "
                     f"got {config.num_epochs}")


def make_schedule(config, steps_per_epoch: int, total_steps: int) -> optax.Schedule:
  """Cosine decay to 0 with linear warmup, or multi-step decay."""
  warmup = int(round(config.warmup_epochs * steps_per_epoch))
  if config.schedule == "cosine":
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=config.learning_rate, warmup_steps=warmup,
        decay_steps=max(total_steps, warmup + 1), end_value=0.0)
  boundaries = {int(e * steps_per_epoch): config.lr_decay_factor
                for e in config.lr_boundaries_epochs}
  schedule = optax.piecewise_constant_schedule(config.learning_rate, boundaries)
  if warmup:
    schedule = optax.join_schedules(
        [optax.linear_schedule(0.0, config.learning_rate, warmup), schedule], [warmup])
  return schedule


def make_optimizer(config, schedule: optax.Schedule) -> optax.GradientTransformation:
  """SGD with (Nesterov) momentum and L2 weight decay on conv/dense kernels only.

  Decay is coupled (added to the gradient before momentum) as in torch.optim.SGD; it skips
  BatchNorm scales/offsets and biases (arrays with ndim <= 1).
  """
  decay_mask = lambda params: jax.tree_util.tree_map(lambda p: p.ndim > 1, params)
  return optax.chain(
      optax.add_decayed_weights(config.weight_decay, mask=decay_mask),
      optax.sgd(schedule, momentum=config.momentum, nesterov=config.nesterov))


def create_train_state(config, info, tx, key):
  """Builds the model and its TrainState; returns (train_graphdef, eval_graphdef, state).

  The graphdefs differ only in BatchNorm's `use_running_average` (train vs eval mode).
  """
  dtype = jnp.bfloat16 if config.half_precision else jnp.float32
  model = models.create_model(config.model, info.num_classes, nnx.Rngs(params=key),
                              dtype=dtype, in_channels=int(info.image_shape[-1]),
                              **dict(config.model_kwargs))
  model.train()
  train_graphdef, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  model.eval()
  eval_graphdef, _, _ = nnx.split(model, nnx.Param, nnx.BatchStat)
  params, batch_stats = nnx.to_pure_dict(params), nnx.to_pure_dict(batch_stats)
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params,
                     batch_stats=batch_stats, opt_state=tx.init(params))
  return train_graphdef, eval_graphdef, state


def train_step(state: TrainState, batch: Mapping[str, jax.Array], mix_key: jax.Array, *,
               graphdef, tx, augment_fn: augment.AugmentFn):
  """One SGD update; returns the new state and this step's {"loss", "accuracy"}."""
  key = jax.random.fold_in(mix_key, state.step)
  images, targets = augment_fn(key, batch["image"], batch["label"], step=state.step)

  def loss_fn(params):
    model = nnx.merge(graphdef, params, state.batch_stats)
    logits = model(images)
    loss = optax.softmax_cross_entropy(logits, targets).mean()
    return loss, (logits, nnx.to_pure_dict(nnx.state(model, nnx.BatchStat)))

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  new_state = TrainState(step=state.step + 1, params=optax.apply_updates(state.params, updates),
                         batch_stats=batch_stats, opt_state=opt_state)
  # Accuracy against the dominant class of the (mixed) label row.
  accuracy = jnp.mean(jnp.argmax(logits, -1) == jnp.argmax(targets, -1))
  return new_state, {"loss": loss, "accuracy": accuracy}


def eval_logits(params, batch_stats, images, *, graphdef, mean, std) -> jax.Array:
  """Logits in eval mode (running BatchNorm statistics, which are not updated)."""
  return nnx.merge(graphdef, params, batch_stats)(augment.normalize(images, mean, std))


def eval_step(state: TrainState, batch, *, graphdef, mean, std):
  """Masked metric sums of one (padded) eval batch, and its logits, labels and mask."""
  logits = eval_logits(state.params, state.batch_stats, batch["image"], graphdef=graphdef,
                       mean=mean, std=std)
  sums = metrics.batch_sums(logits, batch["label"], batch["mask"])
  return sums, logits, batch["label"], batch["mask"]


def shard_batch(batch: Mapping[str, np.ndarray], sharding) -> dict[str, jax.Array]:
  """This process's slice of the global batch → global arrays sharded on the batch axis."""
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items() if k in ("image", "label", "mask")}


# ----------------------------------------------------------------------------- the loop


@dataclasses.dataclass(frozen=True)
class Plan:
  """Step counts and batch layout of a run (raises one-line ValueErrors for impossible ones)."""
  steps_per_epoch: int
  total_steps: int
  eval_batch_size: int   # Rounded up to a multiple of the device count.
  num_shards: int        # Mixing partners are chosen within each of these batch slices.

  @classmethod
  def make(cls, config, info) -> "Plan":
    steps_per_epoch, total, eval_batch_size = count_steps(config, info.num_train)
    num_shards = jax.device_count() if config.mix_num_shards <= 0 else config.mix_num_shards
    if config.batch_size % num_shards:
      raise ValueError(f"config.batch_size ({config.batch_size}) must be divisible by "
                       f"config.mix_num_shards ({num_shards})")
    return cls(steps_per_epoch, total, eval_batch_size, num_shards)


def count_steps(config, num_train: int) -> tuple[int, int, int]:
  """(steps per epoch, total steps, eval batch size rounded up to the device count)."""
  devices = jax.device_count()
  if config.batch_size % devices:
    raise ValueError(f"config.batch_size ({config.batch_size}) must be divisible by the "
                     f"number of devices ({devices})")
  steps_per_epoch = max(1, num_train // config.batch_size)
  total = (config.num_train_steps if config.num_train_steps > 0
           else int(config.num_epochs * steps_per_epoch))
  if total <= 0:
    raise ValueError(f"config.num_epochs ({config.num_epochs}) gives no training step "
                     f"({steps_per_epoch} steps per epoch)")
  return steps_per_epoch, total, -(-config.eval_batch_size // devices) * devices


def subset(config) -> dict[str, Any]:
  """The train subset of config.train_size / holdout_size (0: the whole train split)."""
  return {"train_size": config.train_size or None, "holdout_size": config.holdout_size}


def _evaluate(p_eval_step, state, *, config, info, batch_size, sharding, show, collect_logits):
  """Metrics over the eval split, and (collect_logits) its logits and labels; with a progress bar."""
  from experiments import input_pipeline  # pylint: disable=g-import-not-at-top
  batches = input_pipeline.eval_batches(
      config.dataset, batch_size=batch_size, data_dir=config.data_dir,
      process_index=jax.process_index(), process_count=jax.process_count())
  bar = metrics.progress_bar(math.ceil(info.num_eval / batch_size), desc="eval", unit="batch",
                             enabled=show, leave=False)
  sums, all_logits, all_labels = None, [], []
  for batch in batches:
    s, logits, labels, mask = p_eval_step(state, shard_batch(batch, sharding))
    sums = s if sums is None else jax.tree_util.tree_map(jnp.add, sums, s)
    if collect_logits:   # Replicated outputs: every process reads the whole global batch.
      mask = np.asarray(mask)
      all_logits.append(np.asarray(logits)[mask])
      all_labels.append(np.asarray(labels)[mask])
    if bar is not None:
      bar.update(1)
  if bar is not None:
    bar.close()
  if not collect_logits:
    return metrics.summarize(jax.device_get(sums)), None, None
  return (metrics.summarize(jax.device_get(sums)), np.concatenate(all_logits),
          np.concatenate(all_labels))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       wrap_schedule: Callable[[optax.Schedule], optax.Schedule] | None = None,
                       on_step: Callable[[int], None] | None = None) -> dict[str, Any]:
  """Trains for config.num_epochs (or num_train_steps), resuming from workdir if possible.

  A finished workdir is not trained again: its saved summary is returned. Writes
  workdir/metrics.jsonl (one row per eval), train_log.jsonl (one row per log window),
  eval_logits.npz (final eval logits and labels) and summary.json.

  Args:
    config: a ConfigDict with the fields of configs/default.py.
    workdir: the run's directory; refused (before anything is written) if it holds a run
      of another config.
    wrap_schedule, on_step: hooks for tests (a learning-rate spike; a per-step callback
      called with each dispatched step number).

  Returns:
    The summary: model, dataset, mix, steps, params, eval_accuracy, eval_top5, eval_nll,
    eval_ece, best_eval_accuracy, train_loss, images_per_sec, wall_time_s.

  Raises:
    NonFiniteLossError: the loss became NaN/inf (no checkpoint is written after it).
    checkpointing.Interrupted: SIGINT/SIGTERM/preemption; the current step was checkpointed.
  """
  validate_config(config)
  finished = checkpointing.check_workdir(workdir, config)
  if finished is not None:
    if jax.process_index() == 0:
      print(f"{workdir} holds this run, finished ({finished['steps']} steps): nothing to do",
            flush=True)
    return finished
  from experiments import input_pipeline  # pylint: disable=g-import-not-at-top
  info = input_pipeline.get_info(config.dataset, data_dir=config.data_dir, **subset(config))
  plan = Plan.make(config, info)
  total, is_chief = plan.total_steps, jax.process_index() == 0
  if is_chief:
    checkpointing.write_config(workdir, config)
  mesh = jax.make_mesh((jax.device_count(),), ("data",))
  replicated, data_sharding = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))

  schedule = make_schedule(config, plan.steps_per_epoch, total)
  schedule = wrap_schedule(schedule) if wrap_schedule else schedule
  tx = make_optimizer(config, schedule)
  init_key, mix_key = jax.random.split(jax.random.key(config.seed))
  train_graphdef, eval_graphdef, state = create_train_state(config, info, tx, init_key)
  num_params = sum(x.size for x in jax.tree_util.tree_leaves(state.params))
  state = jax.device_put(state, replicated)

  mngr = checkpointing.manager(workdir, config.keep_checkpoints)
  train_iter = input_pipeline.train_batches(
      config.dataset, batch_size=config.batch_size, seed=config.seed, data_dir=config.data_dir,
      augment=config.augment, process_index=jax.process_index(),
      process_count=jax.process_count(), **subset(config))
  state = checkpointing.restore(mngr, state, train_iter)   # Also repositions train_iter.
  start_step = int(state.step)
  if start_step and is_chief:
    print(f"resumed from step {start_step} of {total} ({workdir})", flush=True)

  p_train_step = jax.jit(
      functools.partial(train_step, graphdef=train_graphdef, tx=tx,
                        augment_fn=augment.make_augment_fn(
                            config, info, num_shards=plan.num_shards, total_steps=total,
                            steps_per_epoch=plan.steps_per_epoch)),
      in_shardings=(replicated, data_sharding, replicated),
      out_shardings=(replicated, replicated), donate_argnums=(0,))
  p_eval_step = jax.jit(
      functools.partial(eval_step, graphdef=eval_graphdef, mean=tuple(info.mean),
                        std=tuple(info.std)),
      in_shardings=(replicated, data_sharding), out_shardings=replicated)
  evaluate = functools.partial(
      _evaluate, p_eval_step, config=config, info=info, batch_size=plan.eval_batch_size,
      sharding=data_sharding, show=config.progress_bar and is_chief)

  show = config.progress_bar and is_chief
  bar = metrics.progress_bar(total * config.batch_size, initial=start_step * config.batch_size,
                             desc="train", unit="img", enabled=show)
  meter = metrics.TrainMeter(
      batch_size=config.batch_size, steps_per_epoch=plan.steps_per_epoch, total_steps=total,
      log_every_steps=config.log_every_steps, schedule=schedule,
      log_path=os.path.join(workdir, "train_log.jsonl") if is_chief else None, bar=bar)
  meter.last_saved_step = mngr.latest_step()
  writer = metrics.MetricWriter(workdir, enabled=is_chief)
  stops = checkpointing.StopRequests(mngr)
  t0 = time.perf_counter()
  train_summary, last_eval, best_accuracy = {}, {}, 0.0

  def save(step):
    meter.drain()   # A checkpoint only after every loss up to it was seen to be finite.
    checkpointing.save(mngr, step, state, train_iter, config)
    meter.last_saved_step = step

  def eval_and_log(step):
    nonlocal last_eval, best_accuracy
    final = step == total
    last_eval, logits, labels = evaluate(state, collect_logits=final and config.save_eval_logits)
    best_accuracy = max(best_accuracy, last_eval["accuracy"])
    if logits is not None and is_chief:
      np.savez(os.path.join(workdir, "eval_logits.npz"), logits=logits, labels=labels)
    writer.write({"step": step, "epoch": step / plan.steps_per_epoch, **train_summary,
                  "learning_rate": float(schedule(step - 1)),
                  "images_per_sec": meter.images_per_sec,
                  **{f"eval_{k}": v for k, v in last_eval.items() if k != "count"}})
    meter.restart_clock()

  try:
    for step in range(start_step + 1, total + 1):
      state, step_metrics = p_train_step(state, shard_batch(next(train_iter), data_sharding),
                                         mix_key)
      meter.dispatched(step, step_metrics)
      if on_step is not None:
        on_step(step)
      epoch_end = step % plan.steps_per_epoch == 0 or step == total
      stop = stops(step) if step < total else None
      if epoch_end or stop or step % config.checkpoint_every_steps == 0:
        save(step)
      if epoch_end:
        train_summary = meter.epoch_summary()
        if step == total or round(step / plan.steps_per_epoch) % config.eval_every_epochs == 0:
          eval_and_log(step)
      if stop:
        raise checkpointing.Interrupted(stop, step, total, workdir)
  finally:
    for closable in (bar, writer):
      if closable is not None:
        closable.close()
    stops.restore()
    mngr.wait_until_finished()   # Pending async saves finish even when training fails.
    mngr.close()
  if not last_eval:   # The final checkpoint existed but its summary did not: evaluate it.
    train_summary = (metrics.read_rows(workdir) or [{}])[-1]
    eval_and_log(total)
  summary = {"model": config.model, "dataset": config.dataset, "mix": config.mix,
             "steps": total, "params": int(num_params),
             "eval_accuracy": last_eval["accuracy"], "eval_top5": last_eval["top5"],
             "eval_nll": last_eval["nll"], "eval_ece": last_eval["ece"],
             "best_eval_accuracy": max([best_accuracy] + [r["eval_accuracy"] for r in metrics.read_rows(workdir)]),
             "train_loss": train_summary.get("train_loss", float("nan")),
             "images_per_sec": (metrics.read_rows(workdir, "train_log.jsonl") or [{}])[-1].get(
                 "images_per_sec", meter.images_per_sec),
             "wall_time_s": time.perf_counter() - t0}
  if is_chief:
    with open(os.path.join(workdir, "summary.json"), "w") as f:
      json.dump(summary, f, indent=2)
  return summary


if __name__ == "__main__":   # `python -m experiments.train` is `python -m experiments.main`.
  import sys  # pylint: disable=g-import-not-at-top
  from experiments import main as _main  # pylint: disable=g-import-not-at-top
  _main.define_flags()
  _main.run_main(_main.main, sys.argv)
