r"""The training loop, written once for every task: resume, train, checkpoint, evaluate, log.

The path of one batch: `data.pipeline.train_batches` yields this process's slice of a uint8
global batch → `step.shard_batch` makes it one global array sharded over the "data" axis of a
Mesh of all devices → `step.train_step`: key = fold_in(mix_key, step) → the task's `prepare`
(jaxmix mixing, normalization) → model in train mode (BatchNorm statistics are global because
the batch is one sharded array) → soft-label cross-entropy → SGD + Nesterov (optim.py).

Parameters, batch statistics and optimizer state are replicated; partners for mixing are chosen
within each device's shard, so mixing needs no communication. Checkpoints (checkpointing.py)
hold the train state and the data iterator's position, so a resumed run sees exactly the
batches an uninterrupted run would see. Several models at once: stacked.py.
"""

from collections.abc import Callable
import functools
import json
import math
import os
import time
from typing import Any

import jax
from jax.sharding import NamedSharding, PartitionSpec as P
import ml_collections
import numpy as np
import optax

from experiments.data import registry
from experiments.eval import metrics
from experiments.train import checkpointing
from experiments.train import optim
from experiments.train import plan as plan_lib
from experiments.train import state as state_lib
from experiments.train import step as step_lib


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       wrap_schedule: Callable[[optax.Schedule], optax.Schedule] | None = None,
                       on_step: Callable[[int], None] | None = None) -> dict[str, Any]:
  """Trains for config.num_epochs (or num_train_steps), resuming from workdir if possible.

  A finished workdir is not trained again: its saved summary is returned. Writes
  workdir/metrics.jsonl (one row per eval), train_log.jsonl (one row per log window),
  eval_logits.npz (classification: the final eval's logits and labels) and summary.json.
  `config` has the fields of configs/default.py (or configs/segmentation.py); a workdir holding
  a run of another config is refused before anything is written. `wrap_schedule`, `on_step`:
  hooks for tests (a learning-rate spike; a callback with each dispatched step number).
  Returns the summary: model, dataset, steps, params, the task's fields (its `summary`),
  train_loss, images_per_sec, wall_time_s. Raises NonFiniteLossError (no checkpoint is written
  after a NaN/inf loss) or checkpointing.Interrupted (SIGINT/SIGTERM: the step was saved).
  """
  plan_lib.validate_config(config)
  finished = checkpointing.check_workdir(workdir, config)
  if finished is not None:
    if jax.process_index() == 0:
      print(f"{workdir} holds this run, finished ({finished['steps']} steps): nothing to do",
            flush=True)
    return finished
  # grain only where a run reads TFDS-prepared data: stacked.py's host (a lent GPU machine)
  # imports this package without it.
  from experiments.data import pipeline  # pylint: disable=g-import-not-at-top
  run = _Run(config, workdir, wrap_schedule)
  total = run.plan.total_steps
  mngr = checkpointing.manager(workdir, config.keep_checkpoints)
  train_iter = pipeline.train_batches(
      config.dataset, batch_size=config.batch_size, seed=config.seed, data_dir=config.data_dir,
      augment=config.augment, process_index=jax.process_index(), **plan_lib.subset(config),
      process_count=jax.process_count(), extra_features=run.task.extra_features)
  state = checkpointing.restore(mngr, run.initial_state, train_iter)  # Repositions train_iter.
  start_step = run.announce_resume(int(state.step))
  meter, bar = run.meter(start_step, mngr.latest_step())
  writer = metrics.MetricWriter(workdir, enabled=run.is_chief)
  stops = checkpointing.StopRequests(mngr)
  t0 = time.perf_counter()
  try:
    for step in range(start_step + 1, total + 1):
      state, step_metrics = run.train_step(state, run.shard(next(train_iter)), run.mix_key)
      meter.dispatched(step, step_metrics)
      if on_step is not None:
        on_step(step)
      stop = stops(step) if step < total else None
      if run.plan.is_epoch_end(step) or stop or step % config.checkpoint_every_steps == 0:
        meter.drain()   # A checkpoint only after every loss up to it was seen to be finite.
        checkpointing.save(mngr, step, state, train_iter, config)
        meter.last_saved_step = step
      if run.plan.is_epoch_end(step):
        run.train_summary = meter.epoch_summary()
        if run.plan.evaluates_at(step, config.eval_every_epochs):
          run.eval_and_log(state, step, writer, meter)
      if stop:
        raise checkpointing.Interrupted(stop, step, total, workdir)
    if not run.history:   # The final checkpoint existed but its summary did not: evaluate it.
      run.eval_and_log(state, total, writer, meter, resumed_finished=True)
  finally:
    _close(bar, writer, stops, mngr)
  return run.write_summary(time.perf_counter() - t0, meter)


def _close(bar, writer, stops, mngr) -> None:
  for closable in (bar, writer):
    if closable is not None:
      closable.close()
  stops.restore()
  mngr.wait_until_finished()   # Pending async saves finish even when training fails.
  mngr.close()


class _Run:
  """One run's fixed parts (task, data info, plan, compiled steps) and its eval history."""

  def __init__(self, config, workdir: str, wrap_schedule):
    self.config, self.workdir, self.task = config, workdir, plan_lib.task_of(config)
    self.info = registry.get_info(config.dataset, data_dir=config.data_dir,
                                  **plan_lib.subset(config))
    self.plan = plan_lib.Plan.make(config, self.info)
    self.is_chief = jax.process_index() == 0
    self.show = config.progress_bar and self.is_chief
    if self.is_chief:
      checkpointing.write_config(workdir, config)
    # Auto axes: jaxmix's dense paste (CutMix, FMix) draws its mask from the replicated key,
    # and under JAX's default Explicit axes that mask and batch-sharded maps refuse to `select`.
    mesh = jax.make_mesh((jax.device_count(),), ("data",),
                         axis_types=(jax.sharding.AxisType.Auto,))
    replicated, self.data_sharding = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    schedule = optim.make_schedule(config, self.plan.steps_per_epoch, self.plan.total_steps)
    self.schedule = wrap_schedule(schedule) if wrap_schedule else schedule
    tx = optim.make_optimizer(config, self.schedule)
    init_key, self.mix_key = jax.random.split(jax.random.key(config.seed))
    train_graphdef, eval_graphdef, state = state_lib.from_model(
        self.task.create_model(config, self.info, init_key), tx)
    self.num_params = state_lib.num_params(state)
    self.initial_state = jax.device_put(state, replicated)
    prepare = self.task.make_prepare(config, self.info, num_shards=self.plan.num_shards,
                                     total_steps=self.plan.total_steps,
                                     steps_per_epoch=self.plan.steps_per_epoch)
    self.train_step = jax.jit(
        functools.partial(step_lib.train_step, graphdef=train_graphdef, tx=tx, prepare=prepare),
        in_shardings=(replicated, self.data_sharding, replicated),
        out_shardings=(replicated, replicated), donate_argnums=(0,))
    self.eval_step = jax.jit(self.task.make_eval_step(config, self.info, eval_graphdef),
                             in_shardings=(replicated, self.data_sharding),
                             out_shardings=replicated)
    self.train_summary, self.history = {}, []

  def announce_resume(self, start_step: int) -> int:
    if start_step and self.is_chief:
      print(f"resumed from step {start_step} of {self.plan.total_steps} ({self.workdir})",
            flush=True)
    return start_step

  def shard(self, batch):
    return step_lib.shard_batch(batch, self.data_sharding,
                                ("image", "label") + self.task.extra_features)

  def meter(self, start_step: int, last_saved_step):
    """The progress bar (or None) and the step meter that writes train_log.jsonl."""
    config, plan = self.config, self.plan
    bar = metrics.progress_bar(plan.total_steps * config.batch_size,
                               initial=start_step * config.batch_size, desc="train",
                               unit="img", enabled=self.show)
    meter = metrics.TrainMeter(
        batch_size=config.batch_size, steps_per_epoch=plan.steps_per_epoch,
        total_steps=plan.total_steps, log_every_steps=config.log_every_steps,
        schedule=self.schedule, bar=bar,
        log_path=os.path.join(self.workdir, "train_log.jsonl") if self.is_chief else None)
    meter.last_saved_step = last_saved_step
    return meter, bar

  def evaluate(self, state, collect_logits: bool) -> metrics.Predictions:
    """The task's metrics over the eval split (and the logits and labels, if collected)."""
    from experiments.data import pipeline  # pylint: disable=g-import-not-at-top  (see above)
    batch_size = self.plan.eval_batch_size
    batches = pipeline.eval_batches(
        self.config.dataset, batch_size=batch_size, data_dir=self.config.data_dir,
        process_index=jax.process_index(), process_count=jax.process_count())
    bar = metrics.progress_bar(math.ceil(self.info.num_eval / batch_size), desc="eval",
                               unit="batch", enabled=self.show, leave=False)
    try:
      return metrics.predict(lambda batch: self.eval_step(state, self.shard(batch)), batches,
                             collect_logits=collect_logits, progress=bar,
                             summarize_fn=self.task.summarize)
    finally:
      if bar is not None:
        bar.close()

  def eval_and_log(self, state, step: int, writer, meter, resumed_finished=False) -> None:
    """Evaluates, appends a metrics.jsonl row, and saves the final eval logits.

    `resumed_finished`: the run's last checkpoint was its final step, and its train metrics
    are read back from the last metrics.jsonl row.
    """
    if resumed_finished:
      self.train_summary = {k: v for k, v in (metrics.read_rows(self.workdir) or [{}])[-1].items()
                            if k.startswith("train_")}
    final = step == self.plan.total_steps
    collect = final and self.task.saves_logits and self.config.get("save_eval_logits", False)
    result, logits, labels = self.evaluate(state, collect)
    self.history.append(result)
    if logits is not None and self.is_chief:
      np.savez(os.path.join(self.workdir, "eval_logits.npz"), logits=logits, labels=labels)
    writer.write({"step": step, "epoch": step / self.plan.steps_per_epoch, **self.train_summary,
                  "learning_rate": float(self.schedule(step - 1)),
                  "images_per_sec": meter.images_per_sec, **self.task.eval_row(result)})
    line = self.task.eval_line(step, self.plan.total_steps, result, self.train_summary)
    if line and self.show:
      print(line, flush=True)
    meter.restart_clock()

  def write_summary(self, wall_time_s: float, meter) -> dict[str, Any]:
    """summary.json: what the run was, its final metrics, its speed."""
    config, workdir = self.config, self.workdir
    accuracies = ([r["accuracy"] for r in self.history if "accuracy" in r]
                  + [r["eval_accuracy"] for r in metrics.read_rows(workdir)
                     if "eval_accuracy" in r])
    summary = {"model": config.model, "dataset": config.dataset,
               "steps": self.plan.total_steps, "params": self.num_params,
               **self.task.summary(config, self.history[-1], accuracies),
               "train_loss": self.train_summary.get("train_loss", float("nan")),
               "images_per_sec": (metrics.read_rows(workdir, "train_log.jsonl") or [{}])[-1].get(
                   "images_per_sec", meter.images_per_sec),
               "wall_time_s": wall_time_s}
    if self.is_chief:
      with open(os.path.join(workdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary
