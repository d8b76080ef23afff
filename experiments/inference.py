"""A finished run's checkpoint, restored for inference on one device (the studies' analyses)."""

from collections.abc import Callable
import dataclasses
import json
import os
from typing import Any

from flax import nnx
import jax
import ml_collections
import optax

from experiments import augment
from experiments import checkpointing
from experiments import train


@dataclasses.dataclass(frozen=True)
class Trained:
  """A finished run, ready for analyses (see `load_trained`)."""
  logits_fn: Callable[[jax.Array], jax.Array]   # uint8 [B, H, W, C] → float32 [B, K], eval mode.
  features_fn: Callable[[jax.Array], jax.Array] | None   # → feature maps before global pooling.
  info: Any            # the dataset's DatasetInfo
  config: ml_collections.ConfigDict
  step: int


def load_trained(workdir: str, step: int | None = None) -> Trained:
  """Restores a run's checkpoint (default: the latest) for inference on one device.

  `logits_fn(images)` normalizes uint8 images with the dataset statistics and applies the model
  in eval mode (running BatchNorm statistics), jitted. `features_fn` (None if the model has no
  `features` method) returns the last feature maps before global pooling, for class-activation
  maps: logits = head(mean over H, W of features).
  """
  from experiments import input_pipeline  # pylint: disable=g-import-not-at-top
  with open(os.path.join(workdir, "config.json")) as f:
    config = ml_collections.ConfigDict(json.load(f))
  info = input_pipeline.get_info(config.dataset, data_dir=config.data_dir, **train.subset(config))
  _, eval_graphdef, _ = train.create_train_state(config, info, optax.identity(), jax.random.key(0))
  restored = checkpointing.load_numpy(os.path.join(workdir, "checkpoints"), step)
  params, batch_stats = restored["params"], restored["batch_stats"]
  mean, std = tuple(info.mean), tuple(info.std)

  @jax.jit
  def logits_fn(images):
    return train.eval_logits(params, batch_stats, images, graphdef=eval_graphdef, mean=mean, std=std)

  features_fn = None
  if hasattr(nnx.merge(eval_graphdef, params, batch_stats), "features"):
    @jax.jit
    def features_fn(images):
      model = nnx.merge(eval_graphdef, params, batch_stats)
      return model.features(augment.normalize(images, mean, std))

  return Trained(logits_fn, features_fn, info, config, int(restored["step"]))
