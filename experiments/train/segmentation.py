"""The segmentation task: images → per-pixel class rows, mixed with (or without) their maps.

Why the shapes study segments "object" and not the 11 shape classes, and what each method does:
experiments/configs/segmentation.py. Methods (`config.method`), all drawing the same boxes / λ
from the same key for a given seed:
  none                 no mixing;
  cutmix_images_only   CutMix on the images, the target maps left as they were (the
                       incoherent way: a classification pipeline with masks as an afterthought);
  cutmix_consistent    CutMix on the images AND the target maps (`jaxmix.mix_targets(...,
                       masks=...)`: the same box pasted into both; targets stay integer maps);
  mixup_consistent     Mixup; the maps become per-pixel soft rows blended with the images' λ;
  mixup_images_only    Mixup on the images, the maps left as they were.
Each image is mixed with probability `config.mix_prob`, partners by flipping the batch, one λ
per image. Evaluation: a K×K confusion matrix over every test pixel → `metrics.
segmentation_metrics` (mIoU over the classes, pixel accuracy, class-agnostic object IoU).
"""

from collections.abc import Callable

from flax import nnx
import jax
import jax.numpy as jnp
import jaxmix
import numpy as np

from experiments import models
from experiments.eval import metrics
from experiments.train import augment
from experiments.train import tasks

# method -> (jaxmix op or None, whether the target maps are mixed with the images).
METHODS = {
    "none": (None, False),
    "cutmix_images_only": ("cutmix", False),
    "cutmix_consistent": ("cutmix", True),
    "mixup_images_only": ("mixup", False),
    "mixup_consistent": ("mixup", True),
}
TARGETS = ("shape", "object")
MASK_FEATURE = "object_mask"

MixFn = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def dense_targets(object_mask: jax.Array, labels: jax.Array, kind: str = "shape") -> jax.Array:
  """int32 [B, H, W] class maps: 0 on the background; on the object 1 + label ("shape") or 1."""
  mask = object_mask.astype(jnp.int32)
  return mask * (labels.astype(jnp.int32)[:, None, None] + 1) if kind == "shape" else mask


def num_dense_classes(kind: str, num_classes: int) -> int:
  return num_classes + 1 if kind == "shape" else 2


def make_mix_fn(method: str, *, num_classes: int, alpha: float, prob: float,
                partner: str = "flip", num_shards: int = 1) -> MixFn:
  """The pure `(key, images_uint8, labels, maps) -> (images, per-pixel target rows)` of a method.

  Returns images (uint8 for CutMix and none, float32 for Mixup) and float32 target rows
  [B, H, W, num_classes]. "images_only" methods return the images the "consistent" method of the
  same op returns for the same key, with the unmixed maps' rows.
  """
  if method not in METHODS:
    raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
  op, mix_maps = METHODS[method]
  alpha, prob = float(alpha), float(prob)

  def mix(key, images, labels, maps):
    rows = jaxmix.one_hot_map(maps, num_classes)
    if op is None:
      return images, rows
    if op == "mixup":   # A blend must not be rounded back to uint8.
      images = images.astype(jnp.float32)
    # The op's own gate: an unmixed sample keeps its image and its maps.
    mixed, _, mixed_maps = jaxmix.mix_targets(
        key, images, labels, op=op, masks=maps, alpha=alpha, prob=prob, mode="elem",
        partner=partner, num_classes=num_classes, num_shards=num_shards)
    if not mix_maps:
      return mixed, rows
    return mixed, (jaxmix.one_hot_map(mixed_maps, num_classes)
                   if jnp.issubdtype(mixed_maps.dtype, jnp.integer) else mixed_maps)

  return mix


def validate(config) -> None:
  if config.method not in METHODS:
    raise ValueError(f"config.method must be one of {list(METHODS)}, got {config.method!r}")
  if config.targets not in TARGETS:
    raise ValueError(f"config.targets must be one of {list(TARGETS)}, got {config.targets!r}")
  if config.model not in models.SEG_MODELS:
    raise ValueError(f"config.model must be one of {sorted(models.SEG_MODELS)}, "
                     f"got {config.model!r}")
  if not 0.0 <= config.mix_prob <= 1.0:
    raise ValueError(f"config.mix_prob must be in [0, 1], got {config.mix_prob}")
  if config.mix_alpha <= 0:
    raise ValueError(f"config.mix_alpha must be > 0, got {config.mix_alpha}")


def _num_classes(config, info) -> int:
  return num_dense_classes(config.targets, info.num_classes)


def create_model(config, info, key):
  return models.create_seg_model(config.model, _num_classes(config, info), nnx.Rngs(params=key),
                                 in_channels=int(info.image_shape[-1]),
                                 **dict(config.model_kwargs))


def make_prepare(config, info, *, num_shards: int, total_steps: int, steps_per_epoch: int):
  """prepare(key, batch, step): dense targets → mix (make_mix_fn) → normalize."""
  del total_steps, steps_per_epoch
  mix_fn = make_mix_fn(config.method, num_classes=_num_classes(config, info),
                       alpha=config.mix_alpha, prob=config.mix_prob,
                       partner=config.mix_partner, num_shards=num_shards)
  mean, std, kind = tuple(info.mean), tuple(info.std), str(config.targets)

  def prepare(key, batch, step):
    del step
    maps = dense_targets(batch[MASK_FEATURE], batch["label"], kind)
    images, rows = mix_fn(key, batch["image"], batch["label"], maps)
    return augment.normalize(images, mean, std), rows
  return prepare


def make_eval_step(config, info, graphdef):
  """eval_fn(state, batch): the K×K confusion matrix (int32, [true, predicted]) of a batch."""
  mean, std, kind = tuple(info.mean), tuple(info.std), str(config.targets)
  num_classes = _num_classes(config, info)

  def eval_step(state, batch):
    model = nnx.merge(graphdef, state.params, state.batch_stats)
    predicted = jnp.argmax(model(augment.normalize(batch["image"], mean, std)), -1)
    truth = dense_targets(batch[MASK_FEATURE], batch["label"], kind)
    return metrics.confusion_matrix(truth, predicted, batch["mask"], num_classes), None, None, None
  return eval_step


def summarize(confusion) -> dict:
  return {**metrics.segmentation_metrics(confusion),
          "confusion": np.asarray(confusion, np.int64).tolist()}


def eval_row(result: dict) -> dict:
  # Lists are not named eval_*: the study runner prints the first eval_* value as a number.
  return {(k if k == "class_iou" else f"eval_{k}"): v
          for k, v in result.items() if k != "confusion"}


def summary(config, result: dict, accuracies) -> dict:
  del accuracies
  return {"method": config.method,
          **{(k if k in ("class_iou", "confusion") else f"eval_{k}"): v
             for k, v in result.items()}}


def eval_line(step: int, total: int, result: dict, train_summary: dict) -> str:
  return (f"step {step}/{total}: mIoU {result['miou']:.4f}, pixel accuracy "
          f"{result['pixel_accuracy']:.4f}, train loss "
          f"{train_summary.get('train_loss', float('nan')):.4f}")


TASK = tasks.Task(
    name="segmentation", extra_features=(MASK_FEATURE,), validate=validate,
    create_model=create_model, make_prepare=make_prepare, make_eval_step=make_eval_step,
    summarize=summarize, eval_row=eval_row, summary=summary, eval_line=eval_line)
