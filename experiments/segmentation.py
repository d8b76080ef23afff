r"""Segmentation of the shapes dataset: CutMix's spatial-coherence failure case, measured.

  python -m experiments.segmentation --config experiments/configs/segmentation.py \
      --workdir runs/seg --config.method=cutmix_images_only

The task (`config.targets`, `dense_targets`): every pixel is labelled from the image's object mask,
either "object" (2 classes: background 0, object 1) or "shape" (11 classes: background 0 and
1 + label on the object, i.e. semantic segmentation). The study uses "object", and here is why.
Both show the failure: CutMix on the images only leaves (a) the pasted partner object labelled
background and (b) the covered part of the image's own object still labelled object. With 11
classes the pasted object would also carry a wrong class, but on the CPU budget of the study
(≤ 5 min a run) the U-Net does not learn the shape classes at all: after 5 epochs without mixing
it predicts one class for every object (mIoU 0.10, object IoU 0.58; 2026-11-25, 2 busy cores),
so the "what" error would swamp the "where" error the study is about. With 2 classes it learns
where the objects are within an epoch, and every mIoU difference is about spatial coherence.
"shape" stays available for a longer run (e.g. on a GPU).

Methods (`config.method`), all drawing the same boxes / λ from the same key for a given seed:
  none                 no mixing;
  cutmix_images_only   CutMix on the images, the target maps left as they were (the
                       incoherent way: a classification pipeline with masks as an afterthought);
  cutmix_consistent    CutMix on the images AND the target maps (`jaxmix.mix_targets(...,
                       masks=...)`: the same box pasted into both; targets stay integer maps);
  mixup_consistent     Mixup; the maps become per-pixel soft rows blended with the images' λ;
  mixup_images_only    Mixup on the images, the maps left as they were.
Each image is mixed with probability `config.mix_prob` (the CutMix paper's CIFAR recipe: α = 1,
p = 0.5), partners by flipping the batch, one λ per image.

The path of a batch: `input_pipeline.train_batches(extra_features=("object_mask",))` (masks get
the images' crop and flip) → `train_step`: key = fold_in(mix_key, step) → `make_mix_fn` → normalize
→ U-Net (seg_models.py) → per-pixel softmax cross-entropy against (soft) per-pixel targets → SGD +
Nesterov (train.make_optimizer). Evaluation: a K×K confusion matrix over every test pixel →
`segmentation_metrics` (mIoU over the classes, pixel accuracy, class-agnostic object IoU).
Checkpoints (orbax, with the grain iterator position) and resume as in train.py.
"""

from collections.abc import Callable, Mapping
import functools
import json
import os
import time
from typing import Any

from flax import nnx
import jax
from jax.sharding import NamedSharding, PartitionSpec as P
import jax.numpy as jnp
import jaxmix
import ml_collections
import numpy as np
import optax

from experiments import augment
from experiments import checkpointing
from experiments.eval import metrics
from experiments import seg_models
from experiments import train

# method -> (jaxmix op or None, whether the target maps are mixed with the images).
METHODS = {
    "none": (None, False),
    "cutmix_images_only": ("cutmix", False),
    "cutmix_consistent": ("cutmix", True),
    "mixup_images_only": ("mixup", False),
    "mixup_consistent": ("mixup", True),
}
MASK_FEATURE = "object_mask"

MixFn = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


TARGETS = ("shape", "object")


def dense_targets(object_mask: jax.Array, labels: jax.Array, kind: str = "shape") -> jax.Array:
  """int32 [B, H, W] class maps: 0 on the background; on the object 1 + label ("shape") or 1."""
  mask = object_mask.astype(jnp.int32)
  return mask * (labels.astype(jnp.int32)[:, None, None] + 1) if kind == "shape" else mask


def num_dense_classes(kind: str, num_classes: int) -> int:
  return num_classes + 1 if kind == "shape" else 2


def segmentation_metrics(confusion: np.ndarray) -> dict[str, Any]:
  """Metrics of a confusion matrix C[true, predicted] of pixel counts (class 0 = background).

  IoU_k = C[k,k] / (Σ_j C[k,j] + Σ_i C[i,k] − C[k,k]); mIoU is their mean over the classes that
  occur in the ground truth or the predictions (others have no IoU). Pixel accuracy = trace / sum.
  Object IoU: the same with every object class merged into one ("where", whatever "what").
  """
  c = np.asarray(confusion, np.float64)
  tp = np.diag(c)
  union = c.sum(0) + c.sum(1) - tp
  with np.errstate(invalid="ignore", divide="ignore"):
    iou = np.where(union > 0, tp / union, np.nan)
  fg_tp, fg_fp, fg_fn = c[1:, 1:].sum(), c[0, 1:].sum(), c[1:, 0].sum()
  fg_union = fg_tp + fg_fp + fg_fn
  return {"miou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
          "pixel_accuracy": float(tp.sum() / c.sum()) if c.sum() else float("nan"),
          "object_iou": float(fg_tp / fg_union) if fg_union else float("nan"),
          "class_iou": [None if np.isnan(v) else float(v) for v in iou]}


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
    mix_key, gate_key = jax.random.split(key)
    mixed, _, mixed_maps = jaxmix.mix_targets(
        mix_key, images, labels, op=op, masks=maps, alpha=alpha, mode="elem", partner=partner,
        num_classes=num_classes, num_shards=num_shards)
    mixed_rows = (jaxmix.one_hot_map(mixed_maps, num_classes)
                  if jnp.issubdtype(mixed_maps.dtype, jnp.integer) else mixed_maps)
    # Each image is mixed with probability `prob` (the same draw for images and targets).
    use = jax.random.uniform(gate_key, (images.shape[0],)) < prob
    images = jnp.where(use[:, None, None, None], mixed, images)
    if mix_maps:
      rows = jnp.where(use[:, None, None, None], mixed_rows, rows)
    return images, rows

  return mix


def validate_config(config: ml_collections.ConfigDict) -> None:
  if config.method not in METHODS:
    raise ValueError(f"config.method must be one of {list(METHODS)}, got {config.method!r}")
  if config.targets not in TARGETS:
    raise ValueError(f"config.targets must be one of {list(TARGETS)}, got {config.targets!r}")
  if config.model not in seg_models.SEG_MODELS:
    raise ValueError(f"config.model must be one of {sorted(seg_models.SEG_MODELS)}, "
                     f"got {config.model!r}")
  if config.schedule not in train.SCHEDULES:
    raise ValueError(f"config.schedule must be one of {list(train.SCHEDULES)}, "
                     f"got {config.schedule!r}")
  for name in ("batch_size", "eval_batch_size", "log_every_steps", "checkpoint_every_steps",
               "eval_every_epochs", "keep_checkpoints"):
    if config[name] <= 0:
      raise ValueError(f"config.{name} must be > 0, got {config[name]}")
  if not 0.0 <= config.mix_prob <= 1.0:
    raise ValueError(f"config.mix_prob must be in [0, 1], got {config.mix_prob}")
  if config.mix_alpha <= 0:
    raise ValueError(f"config.mix_alpha must be > 0, got {config.mix_alpha}")
  if config.num_train_steps <= 0 and not config.num_epochs > 0:
    raise ValueError(f"config.num_epochs must be > 0 (or set config.num_train_steps > 0), "
                     f"got {config.num_epochs}")


def train_step(state: train.TrainState, batch: Mapping[str, jax.Array], mix_key: jax.Array, *,
               graphdef, tx, mix_fn: MixFn, mean, std, targets: str = "shape"):
  """One SGD update on per-pixel cross-entropy; returns the new state, {"loss", "accuracy"}."""
  key = jax.random.fold_in(mix_key, state.step)
  maps = dense_targets(batch[MASK_FEATURE], batch["label"], targets)
  images, rows = mix_fn(key, batch["image"], batch["label"], maps)
  inputs = augment.normalize(images, mean, std)

  def loss_fn(params):
    model = nnx.merge(graphdef, params, state.batch_stats)
    logits = model(inputs)
    loss = optax.softmax_cross_entropy(logits, rows).mean()
    return loss, (logits, nnx.to_pure_dict(nnx.state(model, nnx.BatchStat)))

  (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  new_state = train.TrainState(step=state.step + 1,
                               params=optax.apply_updates(state.params, updates),
                               batch_stats=batch_stats, opt_state=opt_state)
  # Pixel accuracy against the dominant class of the (mixed) target rows.
  accuracy = jnp.mean(jnp.argmax(logits, -1) == jnp.argmax(rows, -1))
  return new_state, {"loss": loss, "accuracy": accuracy}


def eval_step(state: train.TrainState, batch, *, graphdef, mean, std, num_classes: int,
              targets: str = "shape"):
  """The K×K confusion matrix (int32, [true, predicted]) of one padded eval batch."""
  model = nnx.merge(graphdef, state.params, state.batch_stats)
  predicted = jnp.argmax(model(augment.normalize(batch["image"], mean, std)), -1)
  truth = dense_targets(batch[MASK_FEATURE], batch["label"], targets)
  return confusion_matrix(truth, predicted, batch["mask"], num_classes)


def confusion_matrix(truth: jax.Array, predicted: jax.Array, valid: jax.Array,
                     num_classes: int) -> jax.Array:
  """int32 [K, K] pixel counts C[true, predicted] of the images with valid [B] True."""
  weight = jnp.broadcast_to(valid[:, None, None], truth.shape).astype(jnp.int32)
  flat = (truth.astype(jnp.int32) * num_classes + predicted.astype(jnp.int32)).reshape(-1)
  counts = jnp.zeros(num_classes * num_classes, jnp.int32).at[flat].add(weight.reshape(-1))
  return counts.reshape(num_classes, num_classes)


def _evaluate(p_eval_step, state, *, config, batch_size, sharding, num_classes) -> dict:
  from experiments import input_pipeline  # pylint: disable=g-import-not-at-top
  confusion = np.zeros((num_classes, num_classes), np.int64)
  for batch in input_pipeline.eval_batches(
      config.dataset, batch_size=batch_size, data_dir=config.data_dir,
      process_index=jax.process_index(), process_count=jax.process_count()):
    batch = {k: jax.make_array_from_process_local_data(sharding, np.asarray(batch[k]))
             for k in ("image", "label", "mask", MASK_FEATURE)}
    confusion += np.asarray(jax.device_get(p_eval_step(state, batch)), np.int64)
  out = segmentation_metrics(confusion)
  out["confusion"] = confusion.tolist()
  return out


def train_and_evaluate_segmentation(config: ml_collections.ConfigDict,
                                    workdir: str) -> dict[str, Any]:
  """Trains the U-Net for config.num_epochs (or num_train_steps), resuming from workdir.

  A finished workdir is not trained again: its saved summary is returned. Writes
  workdir/metrics.jsonl (one row per eval: eval_miou, eval_pixel_accuracy, eval_object_iou,
  class_iou), train_log.jsonl and summary.json.

  Returns:
    The summary: model, dataset, method, steps, params, eval_miou, eval_pixel_accuracy,
    eval_object_iou, class_iou (IoU per class, None where a class never occurs), confusion
    (C[true, predicted] pixel counts), train_loss, images_per_sec, wall_time_s. (Lists are not
    named eval_*: the study runner prints the first eval_* value as a number.)
  """
  validate_config(config)
  finished = checkpointing.check_workdir(workdir, config)
  if finished is not None:
    return finished
  from experiments import input_pipeline  # pylint: disable=g-import-not-at-top
  info = input_pipeline.get_info(config.dataset, data_dir=config.data_dir,
                                 train_size=config.train_size or None)
  num_classes = num_dense_classes(config.targets, info.num_classes)
  devices, is_chief = jax.device_count(), jax.process_index() == 0
  steps_per_epoch, total, eval_batch_size = train.count_steps(config, info.num_train)
  if is_chief:
    checkpointing.write_config(workdir, config)
  # Auto axes: jaxmix's dense paste (CutMix, FMix) draws its mask from the replicated key, and
  # under JAX's default Explicit axes that mask and the batch-sharded maps refuse to `select`.
  mesh = jax.make_mesh((devices,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
  replicated, data_sharding = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))

  schedule = train.make_schedule(config, steps_per_epoch, total)
  tx = train.make_optimizer(config, schedule)
  init_key, mix_key = jax.random.split(jax.random.key(config.seed))
  model = seg_models.create_model(config.model, num_classes, nnx.Rngs(params=init_key),
                                  in_channels=int(info.image_shape[-1]),
                                  **dict(config.model_kwargs))
  model.train()
  train_graphdef, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
  model.eval()
  eval_graphdef, _, _ = nnx.split(model, nnx.Param, nnx.BatchStat)
  params, batch_stats = nnx.to_pure_dict(params), nnx.to_pure_dict(batch_stats)
  num_params = sum(x.size for x in jax.tree_util.tree_leaves(params))
  state = train.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                           batch_stats=batch_stats, opt_state=tx.init(params))
  state = jax.device_put(state, replicated)

  mngr = checkpointing.manager(workdir, config.keep_checkpoints)
  train_iter = input_pipeline.train_batches(
      config.dataset, batch_size=config.batch_size, seed=config.seed, data_dir=config.data_dir,
      augment=config.augment, process_index=jax.process_index(),
      process_count=jax.process_count(), train_size=config.train_size or None,
      extra_features=(MASK_FEATURE,))
  state = checkpointing.restore(mngr, state, train_iter)
  start_step = int(state.step)
  if start_step and is_chief:
    print(f"resumed from step {start_step} of {total} ({workdir})", flush=True)

  stats = dict(mean=tuple(info.mean), std=tuple(info.std), targets=str(config.targets))
  mix_fn = make_mix_fn(config.method, num_classes=num_classes, alpha=config.mix_alpha,
                       prob=config.mix_prob, partner=config.mix_partner, num_shards=devices)
  p_train_step = jax.jit(
      functools.partial(train_step, graphdef=train_graphdef, tx=tx, mix_fn=mix_fn, **stats),
      in_shardings=(replicated, data_sharding, replicated),
      out_shardings=(replicated, replicated), donate_argnums=(0,))
  p_eval_step = jax.jit(
      functools.partial(eval_step, graphdef=eval_graphdef, num_classes=num_classes, **stats),
      in_shardings=(replicated, data_sharding), out_shardings=replicated)

  def shard(batch):
    return {k: jax.make_array_from_process_local_data(data_sharding, np.asarray(batch[k]))
            for k in ("image", "label", MASK_FEATURE)}

  meter = metrics.TrainMeter(
      batch_size=config.batch_size, steps_per_epoch=steps_per_epoch, total_steps=total,
      log_every_steps=config.log_every_steps, schedule=schedule,
      log_path=os.path.join(workdir, "train_log.jsonl") if is_chief else None, bar=None)
  meter.last_saved_step = mngr.latest_step()
  writer = metrics.MetricWriter(workdir, enabled=is_chief)
  stops = checkpointing.StopRequests(mngr)
  t0 = time.perf_counter()
  train_summary, last_eval = {}, {}

  def eval_and_log(step):
    nonlocal last_eval
    last_eval = _evaluate(p_eval_step, state, config=config, batch_size=eval_batch_size,
                          sharding=data_sharding, num_classes=num_classes)
    writer.write({"step": step, "epoch": step / steps_per_epoch, **train_summary,
                  "learning_rate": float(schedule(step - 1)),
                  "images_per_sec": meter.images_per_sec,
                  **{(k if k == "class_iou" else f"eval_{k}"): v
                     for k, v in last_eval.items() if k != "confusion"}})
    if is_chief and config.progress_bar:
      print(f"step {step}/{total}: mIoU {last_eval['miou']:.4f}, pixel accuracy "
            f"{last_eval['pixel_accuracy']:.4f}, train loss "
            f"{train_summary.get('train_loss', float('nan')):.4f}", flush=True)
    meter.restart_clock()

  try:
    for step in range(start_step + 1, total + 1):
      state, step_metrics = p_train_step(state, shard(next(train_iter)), mix_key)
      meter.dispatched(step, step_metrics)
      epoch_end = step % steps_per_epoch == 0 or step == total
      stop = stops(step) if step < total else None
      if epoch_end or stop or step % config.checkpoint_every_steps == 0:
        meter.drain()   # No checkpoint after a non-finite loss.
        checkpointing.save(mngr, step, state, train_iter, config)
        meter.last_saved_step = step
      if epoch_end:
        train_summary = meter.epoch_summary()
        if step == total or round(step / steps_per_epoch) % config.eval_every_epochs == 0:
          eval_and_log(step)
      if stop:
        raise checkpointing.Interrupted(stop, step, total, workdir)
  finally:
    writer.close()
    stops.restore()
    mngr.wait_until_finished()
    mngr.close()
  if not last_eval:   # The final checkpoint existed but its summary did not: evaluate it.
    train_summary = {k: v for k, v in (metrics.read_rows(workdir) or [{}])[-1].items() if k.startswith("train_")}
    writer = metrics.MetricWriter(workdir, enabled=is_chief)
    try:
      eval_and_log(total)
    finally:
      writer.close()
  summary = {"model": config.model, "dataset": config.dataset, "method": config.method,
             "steps": total, "params": int(num_params),
             **{(k if k in ("class_iou", "confusion") else f"eval_{k}"): v
                for k, v in last_eval.items()},
             "train_loss": train_summary.get("train_loss", float("nan")),
             "images_per_sec": meter.images_per_sec,
             "wall_time_s": time.perf_counter() - t0}
  if is_chief:
    with open(os.path.join(workdir, "summary.json"), "w") as f:
      json.dump(summary, f, indent=2)
  return summary


def main(argv) -> None:
  from absl import app, flags, logging  # pylint: disable=g-import-not-at-top
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config, workdir = flags.FLAGS.config, flags.FLAGS.workdir
  if config is None or workdir is None:
    raise app.UsageError("--config and --workdir are required")
  logging.set_verbosity(logging.WARNING)
  summary = train_and_evaluate_segmentation(config, workdir)
  print(metrics.format_summary({k: v for k, v in summary.items()
                                if not isinstance(v, (list, dict))}))


if __name__ == "__main__":
  import sys  # pylint: disable=g-import-not-at-top
  from experiments import main as _main  # pylint: disable=g-import-not-at-top
  _main.define_flags()
  _main.run_main(main, sys.argv)
