"""ONE trainer for every kind of run: a task (classification, segmentation) supplies its model,
its `prepare(key, batch, step) -> (inputs, targets)` and its eval sums; the loop, checkpoints,
eval cadence, metric files and progress are written once. N models at once is an execution
mode of the same step (stacked.py), not a second program.

  tasks.py           what a task gives the trainer (classification.py, segmentation.py)
  plan.py            config checks, step counts, the task of a config
  state.py  optim.py step.py    train state; schedule + SGD; one update (the batch's path)
  augment.py         classification's prepare: mix (jaxmix) → normalize → Cutout
  loop.py            train_and_evaluate: resume, train, checkpoint, evaluate, log
  checkpointing.py   orbax checkpoints with the data iterator's position; stop requests
  stacked.py         N models stacked on a leading axis (vmap or scan), in-memory data

  python -m experiments.main --config experiments/configs/quickstart.py --workdir runs/q
"""

from experiments.eval.metrics import NonFiniteLossError
from experiments.train.loop import train_and_evaluate
from experiments.train.optim import SCHEDULES, make_optimizer, make_schedule
from experiments.train.plan import Plan, count_steps, subset, task_of, validate_config
from experiments.train.state import TrainState, from_model
from experiments.train.step import eval_logits, shard_batch, train_step


def create_train_state(config, info, tx, key):
  """(train graphdef, eval graphdef, TrainState) of the config's task model, built from `key`."""
  return from_model(task_of(config).create_model(config, info, key), tx)


__all__ = ["NonFiniteLossError", "Plan", "SCHEDULES", "TrainState", "count_steps",
           "create_train_state", "eval_logits", "from_model", "make_optimizer", "make_schedule",
           "shard_batch", "subset", "task_of", "train_and_evaluate", "train_step",
           "validate_config"]
