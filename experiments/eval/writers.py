"""What a run reports while it trains: progress, the step meter, metric files.

The host side of a train loop: a progress bar (`progress_bar`), `TrainMeter` (turns dispatched
steps into completed ones: window means, the NaN stop, images/s), `MetricWriter` (per-eval rows
to metrics.jsonl, metrics.csv and TensorBoard) and reading those rows back. The metrics
themselves are `experiments.eval.metrics`.
"""

from collections.abc import Callable, Mapping
import collections
import csv
import json
import os
import time
from typing import Any

import jax
import numpy as np
import tensorboardX
import tqdm


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
