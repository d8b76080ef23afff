"""A finished run's checkpoint, restored for inference on one device (the studies' analyses).

`load_trained(workdir)` gives jitted `logits_fn` / `features_fn` on uint8 images;
`in_batches(fn, images)` runs such a function over a whole array in fixed-size batches.
"""

from collections.abc import Callable
import dataclasses
import json
import os
from typing import Any

import numpy as np

from flax import nnx
import jax
import ml_collections
import optax

from experiments.train import augment
from experiments.train import checkpointing
from experiments.data import registry
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
  with open(os.path.join(workdir, "config.json")) as f:
    config = ml_collections.ConfigDict(json.load(f))
  info = registry.get_info(config.dataset, data_dir=config.data_dir, **train.subset(config))
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


def in_batches(fn: Callable[[np.ndarray], Any], images: np.ndarray, batch_size: int = 500,
               *, axis: int = 0) -> np.ndarray:
  """fn over `images` [N, ...] in batches of `batch_size`, concatenated along `axis` ([N] there).

  The last batch is padded with zeros to the same shape (one compilation for a jitted fn) and
  its padding cut from the output. `axis` is where fn's output has the batch (1 for a stack of
  models in front).
  """
  out = []
  for start in range(0, len(images), batch_size):
    part = images[start:start + batch_size]
    pad = batch_size - len(part)
    if pad:   # One compiled shape.
      part = np.concatenate([part, np.zeros((pad,) + part.shape[1:], part.dtype)])
    result = np.asarray(fn(part))
    out.append(np.take(result, np.arange(batch_size - pad), axis=axis))
  return np.concatenate(out, axis=axis)
