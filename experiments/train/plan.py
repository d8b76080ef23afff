"""A run's plan, fixed before any work: its task, its checked config, its step counts."""

import dataclasses
from typing import Any

import jax

from experiments.train import classification
from experiments.train import optim
from experiments.train import segmentation
from experiments.train import tasks

TASKS = {t.name: t for t in (classification.TASK, segmentation.TASK)}
_POSITIVE = ("batch_size", "eval_batch_size", "log_every_steps", "checkpoint_every_steps",
             "eval_every_epochs", "keep_checkpoints")


def task_of(config) -> tasks.Task:
  name = config.get("task", "classification")
  if name not in TASKS:
    raise ValueError(f"config.task must be one of {sorted(TASKS)}, got {name!r}")
  return TASKS[name]


def validate_config(config) -> None:
  """One-line ValueErrors for settings that cannot train (checked before any work is done)."""
  task_of(config).validate(config)
  if config.schedule not in optim.SCHEDULES:
    raise ValueError(f"config.schedule must be one of {list(optim.SCHEDULES)}, "
                     f"got {config.schedule!r}")
  if config.optimizer != "sgd":
    raise ValueError(f"config.optimizer must be 'sgd', got {config.optimizer!r}")
  for name in _POSITIVE:
    if config[name] <= 0:
      raise ValueError(f"config.{name} must be > 0, got {config[name]}")
  if config.num_train_steps <= 0 and not config.num_epochs > 0:
    raise ValueError(f"config.num_epochs must be > 0 (or set config.num_train_steps > 0), "
                     f"got {config.num_epochs}")


def subset(config) -> dict[str, Any]:
  """The train subset of config.train_size / holdout_size (0: the whole train split)."""
  return {"train_size": config.train_size or None,
          "holdout_size": config.get("holdout_size", 0)}


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
    shards = config.get("mix_num_shards", -1)
    num_shards = jax.device_count() if shards <= 0 else shards
    if config.batch_size % num_shards:
      raise ValueError(f"config.batch_size ({config.batch_size}) must be divisible by "
                       f"config.mix_num_shards ({num_shards})")
    return cls(steps_per_epoch, total, eval_batch_size, num_shards)

  def is_epoch_end(self, step: int) -> bool:
    return step % self.steps_per_epoch == 0 or step == self.total_steps

  def evaluates_at(self, step: int, eval_every_epochs: int) -> bool:
    return step == self.total_steps or (
        self.is_epoch_end(step) and round(step / self.steps_per_epoch) % eval_every_epochs == 0)
