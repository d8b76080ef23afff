"""Metrics: eval metrics as pure functions, the host side of the train loop, and metric files.

Eval metrics: top-k accuracy, NLL and expected calibration error.

Every metric is computed as *masked sums* per batch (`batch_sums`) so that batches can be
padded to a fixed shape (one compilation, divisible by the device count) and summed across
batches and devices; `summarize` turns the totals into means. ECE uses 15 equal-width
confidence bins (lo, hi] on the max softmax probability, as in Guo et al. 2017,
"On Calibration of Modern Neural Networks":
  ECE = sum_b |B_b| / n * |accuracy(B_b) - confidence(B_b)|.
"""

from collections.abc import Callable, Iterable, Mapping
import collections
import csv
import json
import os
import time
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


# ----------------------------------------------------------------------------- train loop, host side


class NonFiniteLossError(FloatingPointError):
  """The training loss became NaN or inf; no checkpoint was written after it."""

  def __init__(self, message: str, step: int):
    super().__init__(message)
    self.step = step


def progress_bar(total: int, *, initial: int = 0, desc: str, unit: str, enabled: bool,
                 leave: bool = True):
  """A tqdm bar (None when disabled: non-chief processes, tests)."""
  if not enabled:
    return None
  import tqdm  # Only the process that shows progress needs it.
  return tqdm.tqdm(total=total, initial=initial, desc=desc, unit=unit, unit_scale=unit == "img",
                   dynamic_ncols=True, leave=leave)


class TrainMeter:
  """Turns dispatched train steps into completed ones: window means, NaN check, progress, images/s.

  JAX dispatches steps asynchronously, so the loop runs ahead of the device. `dispatched` queues a
  step's metrics and blocks only on steps more than `lag` behind; everything the meter reports
  (progress bar, ETA, images/s, log rows) is therefore about steps that have FINISHED, and the
  loop never runs more than `lag` steps ahead. `drain` waits for all of them (before a checkpoint,
  so that no checkpoint is written after a non-finite loss). images/s is the number of steps
  completed since the clock (re)started over the wall time since then: the first step (which
  compiles) and evals are not counted.

  Window and epoch sums are accumulated exactly as a float32 device accumulator would (sequential
  float32 adds per log window, then float64 over windows) so that logged numbers do not depend on
  how far dispatch runs ahead.
  """

  def __init__(self, *, batch_size: int, steps_per_epoch: int, total_steps: int,
               log_every_steps: int, schedule: Callable[[int], Any],
               log_path: str | None, bar, lag: int = 2):
    self.batch_size, self.steps_per_epoch, self.total_steps = batch_size, steps_per_epoch, total_steps
    self.log_every_steps, self.schedule, self.log_path, self.bar = log_every_steps, schedule, log_path, bar
    self.lag = lag
    self.last_saved_step = None
    self.images_per_sec = float("nan")
    self._pending = collections.deque()
    self._epoch = {"loss": 0.0, "accuracy": 0.0, "steps": 0}
    self._reset_window()
    self._t_start = time.perf_counter()
    self.restart_clock()
    self._clock["skip_first"] = True

  def _reset_window(self):
    self._window = {"loss": np.float32(0), "accuracy": np.float32(0), "steps": 0}

  def restart_clock(self) -> None:
    """Starts measuring images/s afresh (after an eval, which is not training time)."""
    self._clock = {"t0": time.perf_counter(), "steps": 0, "t": None, "skip_first": False}
    if self.bar is not None:
      self.bar.unpause()   # The bar's rate and ETA leave the pause out too.

  def _rate(self) -> float:
    """Images/s of the steps completed since the clock started (the first step, which
    compiles, excluded when others follow)."""
    c = self._clock
    if c["t"] is None or c["steps"] == 0:
      return self.images_per_sec
    return c["steps"] * self.batch_size / max(c["t"] - c["t0"], 1e-9)

  def _tick(self) -> None:
    c, now = self._clock, time.perf_counter()
    if c["skip_first"] and c["t"] is None:   # Compilation: restart the clock after it.
      c["t0"], c["t"] = now, now
      self.images_per_sec = self.batch_size / max(now - self._t_start, 1e-9)
      if self.bar is not None:
        self.bar.unpause()
      return
    c["steps"] += 1
    c["t"] = now

  def dispatched(self, step: int, step_metrics: Mapping[str, jax.Array]) -> None:
    self._pending.append((step, step_metrics))
    while len(self._pending) > self.lag:
      self._complete(*self._pending.popleft())

  def drain(self) -> None:
    while self._pending:
      self._complete(*self._pending.popleft())

  def _complete(self, step: int, step_metrics) -> None:
    m = jax.device_get(step_metrics)   # Blocks until `step` has finished.
    loss = np.float32(m["loss"])
    if not np.isfinite(loss):
      raise NonFiniteLossError(
          f"Training loss became non-finite at step {step} (learning rate "
          f"{float(self.schedule(step - 1)):.4g}). Stopping; no checkpoint was written after "
          f"that step (latest checkpoint: step {self.last_saved_step}). Lower "
          f"config.learning_rate, enable warmup, or check the data.", step=step)
    w = self._window
    w["loss"] = np.float32(w["loss"] + loss)
    w["accuracy"] = np.float32(w["accuracy"] + np.float32(m["accuracy"]))
    w["steps"] += 1
    self._tick()
    if self.bar is not None:
      self.bar.update(self.batch_size)
    epoch_end = step % self.steps_per_epoch == 0 or step == self.total_steps
    if step % self.log_every_steps == 0 or epoch_end:
      self._end_window(step)

  def _end_window(self, step: int) -> None:
    w, n = self._window, max(self._window["steps"], 1)
    self.images_per_sec = self._rate()
    for k in self._epoch:
      self._epoch[k] += float(w[k])
    row = {"step": step, "loss": float(w["loss"]) / n, "accuracy": float(w["accuracy"]) / n,
           "learning_rate": float(self.schedule(step - 1)),
           "images_per_sec": self.images_per_sec}
    if self.log_path:
      with open(self.log_path, "a") as f:
        f.write(json.dumps(row) + "\n")
    if self.bar is not None:
      self.bar.set_postfix(loss=f"{row['loss']:.3f}", img_s=f"{self.images_per_sec:.0f}")
    self._reset_window()

  def epoch_summary(self) -> dict[str, float]:
    """Mean train loss / accuracy of the steps completed since the last call."""
    n = max(self._epoch["steps"], 1)
    out = {"train_loss": self._epoch["loss"] / n, "train_accuracy": self._epoch["accuracy"] / n}
    self._epoch = {"loss": 0.0, "accuracy": 0.0, "steps": 0}
    return out


class MetricWriter:
  """Per-eval rows to metrics.jsonl, metrics.csv and TensorBoard (process 0 only)."""

  def __init__(self, workdir: str, enabled: bool = True):
    self.enabled = enabled
    self.workdir = workdir
    self._tb = None
    if enabled:
      import tensorboardX  # Imported lazily: only the writing process needs it.
      self._tb = tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, row: Mapping[str, Any]) -> None:
    if not self.enabled:
      return
    row = {k: (float(v) if isinstance(v, (np.floating, np.integer, jax.Array)) else v)
           for k, v in row.items()}
    with open(os.path.join(self.workdir, "metrics.jsonl"), "a") as f:
      f.write(json.dumps(row) + "\n")
    path = os.path.join(self.workdir, "metrics.csv")
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
      fields = sorted(row)
      if not new:  # Keep the header of the first row (a resumed run appends).
        with open(path) as r:
          fields = next(csv.reader(r))
      w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
      if new:
        w.writeheader()
      w.writerow(row)
    for k, v in row.items():
      if isinstance(v, (int, float)) and k not in ("step", "epoch"):
        self._tb.add_scalar(k, v, row["step"])
    self._tb.flush()

  def close(self):
    if self._tb is not None:
      self._tb.close()


def read_rows(workdir: str, name: str = "metrics.jsonl") -> list[dict[str, Any]]:
  """The rows a run logged to workdir/name (a .jsonl file), oldest first; [] if none."""
  path = os.path.join(workdir, name)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def format_summary(rows: Mapping[str, Any]) -> str:
  """A two-column table of the final metrics."""
  width = max(len(k) for k in rows)
  lines = ["-" * (width + 18)]
  for k, v in rows.items():
    v = f"{v:.4f}" if isinstance(v, float) else str(v)
    lines.append(f"{k:<{width}}  {v:>14}")
  lines.append(lines[0])
  return "\n".join(lines)
