"""The classification task: images → class rows, mixed by `augment.make_augment_fn`."""

import jax.numpy as jnp
from flax import nnx

from experiments import models
from experiments.eval import metrics
from experiments.train import augment
from experiments.train import step as step_lib
from experiments.train import tasks


def validate(config) -> None:
  if config.mix not in augment.MIX_CHOICES:
    raise ValueError(f"config.mix must be one of {list(augment.MIX_CHOICES)}, got {config.mix!r}")
  if config.model not in models.MODELS:
    raise ValueError(f"config.model must be one of {sorted(models.MODELS)}, got {config.model!r}")


def create_model(config, info, key):
  dtype = jnp.bfloat16 if config.half_precision else jnp.float32
  return models.create_model(config.model, info.num_classes, nnx.Rngs(params=key), dtype=dtype,
                             in_channels=int(info.image_shape[-1]), **dict(config.model_kwargs))


def make_prepare(config, info, *, num_shards: int, total_steps: int, steps_per_epoch: int):
  """prepare(key, batch, step): mix (jaxmix) → normalize → Cutout (see augment.py)."""
  return prepare_from(augment.make_augment_fn(config, info, num_shards=num_shards,
                                              total_steps=total_steps,
                                              steps_per_epoch=steps_per_epoch))


def prepare_from(augment_fn):
  """prepare(key, batch, step) of an augment function `(key, images, labels, step=)`."""
  return lambda key, batch, step: augment_fn(key, batch["image"], batch["label"], step=step)


def make_eval_step(config, info, graphdef):
  """eval_fn(state, batch): masked metric sums of one padded batch, its logits, labels, mask."""
  del config
  mean, std = tuple(info.mean), tuple(info.std)

  def eval_step(state, batch):
    logits = step_lib.eval_logits(state.params, state.batch_stats, batch["image"],
                                  graphdef=graphdef, mean=mean, std=std)
    return metrics.batch_sums(logits, batch["label"], batch["mask"]), logits, batch["label"], \
        batch["mask"]
  return eval_step


def eval_row(result: dict) -> dict:
  return {f"eval_{k}": v for k, v in result.items() if k != "count"}


def summary(config, result: dict, accuracies) -> dict:
  return {"mix": config.mix, "eval_accuracy": result["accuracy"], "eval_top5": result["top5"],
          "eval_nll": result["nll"], "eval_ece": result["ece"],
          "best_eval_accuracy": max([result["accuracy"], *accuracies])}


TASK = tasks.Task(
    name="classification", extra_features=(), validate=validate, create_model=create_model,
    make_prepare=make_prepare, make_eval_step=make_eval_step, summarize=metrics.summarize,
    eval_row=eval_row, summary=summary, saves_logits=True)
