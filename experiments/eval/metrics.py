"""Eval metrics as pure functions: top-k accuracy, NLL and expected calibration error (ECE).

Each metric is written once and runs in two forms:
- on device, as *masked sums* of one batch (`batch_sums`, jittable, float32) so that batches can
  be padded to a fixed shape (one compilation, divisible by the device count) and summed across
  batches and devices; `summarize` turns the totals into means; `predict` runs that over an
  eval set;
- on the host, on NumPy arrays of saved logits (`mean_nll`, `ece`, `reliability_bins`, float64),
  for the studies' analyses.
A function given a NumPy array computes in float64 with NumPy; given a jax array (or a tracer
under jit), in float32 with jax.

ECE uses 15 equal-width confidence bins (lo, hi] on the max softmax probability, as in Guo et
al. 2017, "On Calibration of Modern Neural Networks":
  ECE = sum_b |B_b| / n * |accuracy(B_b) - confidence(B_b)|.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

# The train loop's host side (progress, step meter, metric files) is `writers`; its names stay
# reachable here, where the trainer has always found them.
from experiments.eval.writers import (  # pylint: disable=g-importing-member,unused-import
    MetricWriter, NonFiniteLossError, TrainMeter, format_summary, progress_bar, read_rows)

NUM_ECE_BINS = 15


def _on_host(x) -> bool:
  return isinstance(x, np.ndarray)


def log_softmax(logits):
  """log softmax over the last axis (float64 for NumPy input, float32 for jax input)."""
  if _on_host(logits):
    z = logits.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
  return jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)


def _softmax(logits):
  if _on_host(logits):
    return np.exp(log_softmax(logits))
  return jax.nn.softmax(logits.astype(jnp.float32), axis=-1)


def topk_correct(logits: jax.Array, labels: jax.Array, k: int) -> jax.Array:
  """1.0 where `labels` is among the `k` largest logits of its row, else 0.0 ([B] float32).

  Ties are broken by class index (the lower index ranks first), as argmax and a stable
  descending sort do, so top-1 equals `argmax(logits) == labels`.
  """
  label_logit = jnp.take_along_axis(logits, labels[:, None], axis=-1)
  idx = jnp.arange(logits.shape[-1])
  # Rank of the label with ties broken by class index, like argmax / stable sort.
  ahead = (logits > label_logit) | ((logits == label_logit) & (idx < labels[:, None]))
  return (jnp.sum(ahead, axis=-1) < k).astype(jnp.float32)


def nll(logits, labels):
  """Negative log-likelihood of the integer labels under softmax(logits), per example ([B])."""
  xp = np if _on_host(logits) else jnp
  return -xp.take_along_axis(log_softmax(logits), xp.asarray(labels)[:, None], axis=-1)[:, 0]


def ece_bin_sums(logits, labels, mask=None, num_bins: int = NUM_ECE_BINS) -> dict[str, Any]:
  """Per-bin count, summed confidence and summed correctness ([num_bins] each) of the rows
  where `mask` (default: all) is True."""
  xp, dtype = (np, np.float64) if _on_host(logits) else (jnp, jnp.float32)
  conf = _softmax(logits).max(axis=-1)
  correct = (logits.argmax(axis=-1) == labels).astype(dtype)
  edges = xp.linspace(0.0, 1.0, num_bins + 1, dtype=dtype)
  in_bin = (conf[:, None] > edges[None, :-1]) & (conf[:, None] <= edges[None, 1:])
  in_bin = in_bin.astype(dtype)
  if mask is not None:
    in_bin = in_bin * mask.astype(dtype)[:, None]
  return {"count": in_bin.sum(0), "confidence": (in_bin * conf[:, None]).sum(0),
          "correct": (in_bin * correct[:, None]).sum(0)}


def ece_from_bin_sums(bins: Mapping[str, Any]) -> float:
  """ECE from (summed) `ece_bin_sums`; NaN without any row."""
  count = np.asarray(bins["count"], np.float64)
  n = count.sum()
  if n == 0:
    return float("nan")
  gap = np.abs(np.asarray(bins["correct"], np.float64)
               - np.asarray(bins["confidence"], np.float64))
  return float(gap.sum() / n)  # sum_b |B|/n * |acc_b - conf_b| with acc_b = correct_b/|B|.


# ----------------------------------------------------------------------------- host, whole arrays


def mean_nll(logits, labels) -> float:
  """Mean NLL of host arrays, in float64."""
  return float(nll(np.asarray(logits, np.float64), np.asarray(labels)).mean())


def ece(logits, labels, num_bins: int = NUM_ECE_BINS) -> float:
  """ECE of host arrays, in float64."""
  return ece_from_bin_sums(ece_bin_sums(np.asarray(logits, np.float64), np.asarray(labels),
                                        num_bins=num_bins))


def reliability_bins(logits, labels, num_bins: int = NUM_ECE_BINS) -> dict[str, list[float]]:
  """Per confidence bin (lo, hi]: edges, count, mean confidence, accuracy (NaN where empty)."""
  sums = ece_bin_sums(np.asarray(logits, np.float64), np.asarray(labels), num_bins=num_bins)
  with np.errstate(invalid="ignore"):
    confidence, accuracy = sums["confidence"] / sums["count"], sums["correct"] / sums["count"]
  return {"edges": np.linspace(0.0, 1.0, num_bins + 1).tolist(),
          "count": sums["count"].tolist(), "confidence": confidence.tolist(),
          "accuracy": accuracy.tolist()}


# ----------------------------------------------------------------------------- device, batch sums


def batch_sums(logits: jax.Array, labels: jax.Array,
               mask: jax.Array | None = None) -> dict[str, Any]:
  """Masked sums of every metric for one batch; add them up over batches, then `summarize`."""
  if mask is None:
    mask = jnp.ones(labels.shape, bool)
  m = mask.astype(jnp.float32)
  return {
      "count": m.sum(),
      "top1": (topk_correct(logits, labels, 1) * m).sum(),
      "top5": (topk_correct(logits, labels, min(5, logits.shape[-1])) * m).sum(),
      "nll": (nll(logits, labels) * m).sum(),
      "ece_bins": ece_bin_sums(logits, labels, mask),
  }


def summarize(sums: Mapping[str, Any]) -> dict[str, float]:
  """Means from summed `batch_sums`: accuracy, top5, nll, ece, count."""
  n = float(sums["count"])
  return {"accuracy": float(sums["top1"]) / n, "top5": float(sums["top5"]) / n,
          "nll": float(sums["nll"]) / n, "ece": ece_from_bin_sums(sums["ece_bins"]),
          "count": int(n)}


def metrics(logits, labels, mask=None) -> dict[str, float]:
  """All metrics for one set of logits (e.g. saved eval logits), computed as on device."""
  return summarize(jax.device_get(batch_sums(jnp.asarray(logits), jnp.asarray(labels),
                                             None if mask is None else jnp.asarray(mask))))


class Predictions(NamedTuple):
  """What `predict` returns: the summarized metrics, and the logits and labels of the
  unmasked rows (None when not collected)."""
  metrics: dict[str, float]
  logits: np.ndarray | None
  labels: np.ndarray | None


# (sums of batch_sums, logits, labels, mask) of one padded batch, readable by every process.
EvalOutput = tuple[Mapping[str, Any], Any, Any, Any]


def predict(eval_fn: Callable[[Mapping[str, Any]], EvalOutput],
            batches: Iterable[Mapping[str, Any]], *, collect_logits: bool = True,
            progress=None, summarize_fn: Callable[[Any], dict] | None = None) -> Predictions:
  """Runs `eval_fn` on every batch: metrics over all of them, and the unmasked rows' logits.

  `eval_fn(batch)` returns (batch_sums(...), logits, labels, mask) of one padded batch (see
  `eval_step`); in multi-process runs its outputs must be arrays every process can read
  (replicated), so that each process sees the whole global batch. Sums are added on device in
  batch order. `progress` (a tqdm bar or None) advances by one per batch. `summarize_fn` turns
  the summed (host) sums into metrics (default `summarize`; another task's sums, e.g. a
  confusion matrix, bring their own).
  """
  sums, all_logits, all_labels = None, [], []
  for batch in batches:
    s, logits, labels, mask = eval_fn(batch)
    sums = s if sums is None else jax.tree_util.tree_map(jnp.add, sums, s)
    if collect_logits:
      mask = np.asarray(mask, bool)
      all_logits.append(np.asarray(logits)[mask])
      all_labels.append(np.asarray(labels)[mask])
    if progress is not None:
      progress.update(1)
  summary = (summarize_fn or summarize)(jax.device_get(sums))
  if not collect_logits:
    return Predictions(summary, None, None)
  return Predictions(summary, np.concatenate(all_logits), np.concatenate(all_labels))


def eval_step(logits_fn: Callable[[Mapping[str, Any]], Any]):
  """An `eval_fn` for `predict` from a function of a batch (with "label", optional "mask")
  to its logits."""
  def step(batch: Mapping[str, Any]) -> EvalOutput:
    logits = jnp.asarray(logits_fn(batch))
    labels = jnp.asarray(batch["label"])
    mask = jnp.asarray(batch.get("mask", np.ones(labels.shape, bool)))
    return batch_sums(logits, labels, mask), logits, labels, mask
  return step


# ----------------------------------------------------------------------------- segmentation


def confusion_matrix(truth: jax.Array, predicted: jax.Array, valid: jax.Array,
                     num_classes: int) -> jax.Array:
  """int32 [K, K] pixel counts C[true, predicted] of the images with valid [B] True."""
  weight = jnp.broadcast_to(valid[:, None, None], truth.shape).astype(jnp.int32)
  flat = (truth.astype(jnp.int32) * num_classes + predicted.astype(jnp.int32)).reshape(-1)
  counts = jnp.zeros(num_classes * num_classes, jnp.int32).at[flat].add(weight.reshape(-1))
  return counts.reshape(num_classes, num_classes)


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
