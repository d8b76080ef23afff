"""The networks of the experiments, by name: classifiers (`create_model`) and segmenters
(`create_seg_model`). All take NHWC float images already normalized and return float32 logits.

  resnet.py    resnet_small, resnet18, preact_resnet18, wrn28_10, resnet50
  airbench.py  airbench (airbench94's CIFAR net)
  unet.py      unet (per-pixel logits, the segmentation study)
"""

from collections.abc import Callable
import functools
from typing import Any

from flax import nnx
import jax
import jax.numpy as jnp

from experiments.models import airbench as _airbench
from experiments.models import resnet
from experiments.models import unet

MODELS: dict[str, Callable[..., nnx.Module]] = {
    "resnet_small": resnet.resnet_small,
    "resnet18": resnet.resnet18,
    "preact_resnet18": resnet.preact_resnet18,
    "wrn28_10": functools.partial(resnet.wide_resnet, depth=28, widen_factor=10),
    "resnet50": resnet.resnet50,
    "airbench": _airbench.airbench,
}
SEG_MODELS: dict[str, Callable[..., nnx.Module]] = {"unet": unet.UNet}


def create_model(name: str, num_classes: int, rngs: nnx.Rngs, *,
                 dtype: Any = jnp.float32, **kwargs) -> nnx.Module:
  """Builds classifier `name` from MODELS; kwargs (e.g. `width=8`) reach the constructor.

  Raises:
    ValueError: if `name` is not in MODELS.
  """
  if name not in MODELS:
    raise ValueError(f"Unknown model {name!r}; choose one of {sorted(MODELS)}")
  return MODELS[name](num_classes, rngs=rngs, dtype=jnp.dtype(dtype), **kwargs)


def create_seg_model(name: str, num_classes: int, rngs: nnx.Rngs, **kwargs) -> nnx.Module:
  """Builds segmenter `name` from SEG_MODELS (per-pixel logits [B, H, W, num_classes])."""
  if name not in SEG_MODELS:
    raise ValueError(f"model must be one of {sorted(SEG_MODELS)}, got {name!r}")
  return SEG_MODELS[name](num_classes, rngs=rngs, **kwargs)


def num_params(model: nnx.Module) -> int:
  return sum(x.size for x in jax.tree_util.tree_leaves(nnx.state(model, nnx.Param)))
