"""The stacked mode (`stacked.py`) for the segmentation task: N U-Nets in one scan step.

As `stacked.make_train_step` with the segmentation task's `prepare` (dense targets → the
model's method → normalize: `segmentation.make_prepare`), picked per model by `lax.switch`.
The step's data are {"image", "object_mask"} arrays, and each mask is cropped and flipped with
its image (one window for both, as the CPU pipeline's `augment` does), so `stacked.run_step`,
`train_epochs` and `init_models(..., create_model=segmentation.create_model)` serve unchanged.
Evaluation: each model's confusion matrix over every pixel (`metrics.confusion_matrix`).
"""

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from experiments.eval import metrics
from experiments.train import augment
from experiments.train import optim
from experiments.train import segmentation
from experiments.train import stacked
from experiments.train import step as step_lib


def make_train_step(configs, info, graphdef, steps_per_epoch: int):
  """jit(step)(states, data, labels, epoch_idx, i, crop_keys, mix_keys, methods, total_steps),
  `data` = {"image": uint8 [N, H, W, C], "object_mask": uint8 [N, H, W]}; models scanned."""
  config = next(iter(configs.values()))
  warmup = int(round(config.warmup_epochs * steps_per_epoch))
  prepares = [segmentation.make_prepare(c, info, num_shards=1, total_steps=0,
                                        steps_per_epoch=steps_per_epoch)
              for c in configs.values()]

  def step(states, data, labels, epoch_idx, i, crop_keys, mix_keys, methods, total_steps):
    idx = jax.lax.dynamic_index_in_dim(epoch_idx, i, keepdims=False)          # [M, B]
    keys = jax.vmap(jax.random.fold_in, (0, None))(crop_keys, states.step[0])
    both = jnp.concatenate([data["image"][idx], data[segmentation.MASK_FEATURE][idx][..., None]],
                           axis=-1)   # One crop window and flip for an image and its mask.
    cropped = jax.vmap(stacked.crop_and_flip)(keys, both)
    tx = optim.make_optimizer(config, stacked.warmup_cosine(config.learning_rate, warmup,
                                                            total_steps))

    def one(state, image, mask, label, mix_key, method):
      prepare = lambda key, batch, step: jax.lax.switch(method, prepares, key, batch, step)
      batch = {"image": image, segmentation.MASK_FEATURE: mask, "label": label}
      return step_lib.train_step(state, batch, mix_key, graphdef=graphdef, tx=tx,
                                 prepare=prepare)
    per_model = (states, cropped[..., :-1], cropped[..., -1], labels[idx], mix_keys, methods)
    _, out = jax.lax.scan(lambda carry, xs: (carry, one(*xs)), None, per_model)
    return out

  return jax.jit(step)


def confusion_fn(eval_graphdef, config, info):
  """jit(per-model confusion)(params, batch_stats, images, masks, labels, valid) -> int32
  [M, K, K] pixel counts C[true, predicted] of the images with valid [B] True."""
  mean, std, kind = tuple(info.mean), tuple(info.std), str(config.targets)
  num_classes = segmentation.num_dense_classes(kind, info.num_classes)

  def one(params, batch_stats, images, masks, labels, valid):
    model = nnx.merge(eval_graphdef, params, batch_stats)
    predicted = jnp.argmax(model(augment.normalize(images, mean, std)), -1)
    truth = segmentation.dense_targets(masks, labels, kind)
    return metrics.confusion_matrix(truth, predicted, valid, num_classes)
  return jax.jit(jax.vmap(one, in_axes=(0, 0, None, None, None, None)))


def confusions(fn, states, split, batch_size: int = 500) -> np.ndarray:
  """int64 [M, K, K]: every stacked model's confusion over all of `split` ("image",
  "object_mask", "label"), in fixed-size batches (the last padded, its padding not counted)."""
  n, total = len(split["label"]), 0
  for start in range(0, n, batch_size):
    rows = np.arange(start, start + batch_size)
    valid = rows < n
    part = {k: np.asarray(v)[np.minimum(rows, n - 1)] for k, v in split.items()
            if k in ("image", segmentation.MASK_FEATURE, "label")}
    total = total + np.asarray(fn(states.params, states.batch_stats, part["image"],
                                  part[segmentation.MASK_FEATURE], part["label"], valid),
                               np.int64)
  return total
