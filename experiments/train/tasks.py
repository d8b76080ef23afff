"""What a task gives the trainer; the loop (loop.py) is written once for all of them.

A task is a `Task` of pure functions: it checks its config fields, builds its model, makes the
`prepare(key, batch, step) -> (inputs, targets)` the train step calls (jaxmix mixing lives
there), makes the jitted eval step's function (sums over one padded batch), turns the summed
sums into metrics, and names what goes into metrics.jsonl and summary.json.

  classification.py  images → class rows (CutMix / Mixup / Cutout and the variants)
  segmentation.py    images → per-pixel rows (the shapes study's dense mixing)

`config.task` picks one (absent: classification, as in configs written before the field).
"""

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Task:
  name: str
  # Batch features the train step reads (besides "image" and "label").
  extra_features: tuple[str, ...]
  # config -> None; one-line ValueErrors for the task's own fields.
  validate: Callable[[Any], None]
  # (config, info, key) -> nnx.Module.
  create_model: Callable[..., Any]
  # (config, info, *, num_shards, total_steps, steps_per_epoch) -> prepare.
  make_prepare: Callable[..., Any]
  # (config, info, eval_graphdef) -> eval_fn(state, batch) -> (sums, logits, labels, mask).
  make_eval_step: Callable[..., Any]
  # summed sums (host) -> metrics dict.
  summarize: Callable[[Any], dict]
  # metrics -> the eval_* fields of a metrics.jsonl row.
  eval_row: Callable[[dict], dict]
  # (config, metrics, accuracies seen so far) -> the task's fields of summary.json.
  summary: Callable[..., dict]
  # (step, total, metrics, train summary) -> a progress line printed after an eval, or None.
  eval_line: Callable[..., str | None] = lambda *a: None
  # Whether the final eval's logits and labels can be saved (eval_logits.npz).
  saves_logits: bool = False
