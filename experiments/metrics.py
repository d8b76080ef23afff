"""Evaluation metrics as pure functions: top-k accuracy, NLL and expected calibration error.

Every metric is computed as *masked sums* per batch (`batch_sums`) so that batches can be
padded to a fixed shape (one compilation, divisible by the device count) and summed across
batches and devices; `summarize` turns the totals into means. ECE uses 15 equal-width
confidence bins (lo, hi] on the max softmax probability, as in Guo et al. 2017,
"On Calibration of Modern Neural Networks":
  ECE = sum_b |B_b| / n * |accuracy(B_b) - confidence(B_b)|.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

NUM_ECE_BINS = 15


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


def nll(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Negative log-likelihood of the integer labels under softmax(logits) ([B] float32)."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return -jnp.take_along_axis(logp, labels[:, None], axis=-1)[:, 0]


def ece_bin_sums(logits: jax.Array, labels: jax.Array, mask: jax.Array,
                 num_bins: int = NUM_ECE_BINS) -> dict[str, jax.Array]:
  """Per-bin count, summed confidence and summed correctness ([num_bins] each)."""
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  conf = jnp.max(probs, axis=-1)
  correct = (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
  edges = jnp.linspace(0.0, 1.0, num_bins + 1, dtype=jnp.float32)
  in_bin = (conf[:, None] > edges[None, :-1]) & (conf[:, None] <= edges[None, 1:])
  in_bin = in_bin.astype(jnp.float32) * mask.astype(jnp.float32)[:, None]
  return {"count": in_bin.sum(0), "confidence": (in_bin * conf[:, None]).sum(0),
          "correct": (in_bin * correct[:, None]).sum(0)}


def ece_from_bin_sums(bins: Mapping[str, Any]) -> float:
  count = np.asarray(bins["count"], np.float64)
  n = count.sum()
  if n == 0:
    return float("nan")
  gap = np.abs(np.asarray(bins["correct"], np.float64)
               - np.asarray(bins["confidence"], np.float64))
  return float(gap.sum() / n)  # sum_b |B|/n * |acc_b - conf_b| with acc_b = correct_b/|B|.


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
  """All metrics for one set of logits (e.g. saved eval logits)."""
  return summarize(jax.device_get(batch_sums(jnp.asarray(logits),
                                             jnp.asarray(labels), mask)))


def predict(logits_fn: Callable[[Mapping[str, Any]], jax.Array],
            batches: Iterable[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
  """Runs `logits_fn` on every batch and returns (logits [N, K], labels [N]) of unmasked rows.

  `logits_fn` maps a batch (with "image", "label", "mask") to logits; in multi-process runs
  it must return arrays every process can read (the trainer gathers them).
  """
  all_logits, all_labels = [], []
  for batch in batches:
    logits = np.asarray(logits_fn(batch))
    mask = np.asarray(batch.get("mask", np.ones(len(logits), bool)), bool)
    all_logits.append(logits[mask])
    all_labels.append(np.asarray(batch["label"])[mask])
  return np.concatenate(all_logits), np.concatenate(all_labels)
