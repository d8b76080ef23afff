"""Eval metrics against a plain NumPy re-statement (top-k, NLL, ECE with 15 bins); the train
loop's meter (experiments.eval.writers)."""

import json

import jax
import numpy as np
import pytest

from experiments.eval import metrics
from experiments.eval import writers


def np_softmax(z):
  z = z.astype(np.float64)
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def np_metrics(logits, labels, mask, num_bins=15):
  logits, labels = logits[mask], labels[mask]
  order = np.argsort(-logits, axis=-1, kind="stable")
  top1 = np.mean(order[:, 0] == labels)
  top5 = np.mean([l in o[:5] for o, l in zip(order, labels)])
  p = np_softmax(logits)
  nll = np.mean(-np.log(p[np.arange(len(labels)), labels]))
  conf = p.max(-1)
  correct = p.argmax(-1) == labels
  edges = np.linspace(0, 1, num_bins + 1)
  ece = 0.0
  for lo, hi in zip(edges[:-1], edges[1:]):
    in_bin = (conf > lo) & (conf <= hi)
    if in_bin.any():
      ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
  return {"accuracy": top1, "top5": top5, "nll": nll, "ece": ece}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_metrics_match_numpy(seed, scale):
  rng = np.random.default_rng(seed)
  n, k = 300, 10
  logits = (rng.normal(size=(n, k)) * scale).astype(np.float32)
  labels = rng.integers(0, k, n).astype(np.int32)
  # Make the model right more often than chance so bins have mixed accuracy.
  logits[np.arange(n)[: n // 2], labels[: n // 2]] += 2.0 * scale
  mask = rng.random(n) < 0.8
  got = metrics.metrics(logits, labels, mask)
  want = np_metrics(logits, labels, mask)
  assert got["count"] == mask.sum()
  for name in ("accuracy", "top5"):
    assert got[name] == pytest.approx(want[name], abs=1e-7), name
  assert got["nll"] == pytest.approx(want["nll"], rel=1e-5)
  assert got["ece"] == pytest.approx(want["ece"], abs=1e-5)
  assert want["ece"] > 0.01  # The comparison is not vacuous.


def test_batch_sums_add_up_over_padded_batches():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(100, 7)).astype(np.float32)
  labels = rng.integers(0, 7, 100).astype(np.int32)
  whole = metrics.metrics(logits, labels)
  # Two batches of 64, the second padded with garbage rows masked out.
  pad_logits = np.concatenate([logits, rng.normal(size=(28, 7)).astype(np.float32)])
  pad_labels = np.concatenate([labels, np.zeros(28, np.int32)])
  mask = np.arange(128) < 100
  sums = [metrics.batch_sums(pad_logits[i:i + 64], pad_labels[i:i + 64], mask[i:i + 64])
          for i in (0, 64)]
  import jax
  total = jax.tree_util.tree_map(lambda a, b: a + b, *sums)
  got = metrics.summarize(jax.device_get(total))
  for k in whole:
    assert got[k] == pytest.approx(whole[k], rel=1e-6), k


def test_top1_tie_breaks_like_argmax():
  logits = np.zeros((3, 4), np.float32)   # All tied: argmax is class 0.
  labels = np.array([0, 1, 3], np.int32)
  np.testing.assert_array_equal(metrics.topk_correct(logits, labels, 1), [1, 0, 0])
  np.testing.assert_array_equal(metrics.topk_correct(logits, labels, 2), [1, 1, 0])


def test_ece_of_perfectly_calibrated_bins_is_zero():
  # Confidence 0.5 on 2 classes, right exactly half the time → ECE 0.
  logits = np.zeros((4, 2), np.float32)
  labels = np.array([0, 0, 1, 1], np.int32)
  assert metrics.metrics(logits, labels)["ece"] == pytest.approx(0.0, abs=1e-7)


def test_predict_drops_masked_rows():
  batches = [{"image": np.arange(4), "label": np.array([1, 2, 3, 0]),
              "mask": np.array([True, True, False, True])}]
  out = metrics.predict(metrics.eval_step(lambda b: np.eye(4)[b["image"]]), batches)
  logits, labels = out.logits, out.labels
  assert logits.shape == (3, 4)
  np.testing.assert_array_equal(labels, [1, 2, 0])
  # Predicted classes 0, 1, 3 against labels 1, 2, 0: no row right; the masked row not counted.
  assert out.metrics["count"] == 3 and out.metrics["accuracy"] == 0.0


def test_predict_sums_metrics_over_batches_and_can_skip_the_logits():
  # Two batches, the second padded by one row: 3 of the 5 real rows right (argmax = label).
  eye = np.eye(3, dtype=np.float32) * 5.0
  batches = [{"image": np.array([0, 1, 2]), "label": np.array([0, 1, 0]),
              "mask": np.array([True, True, True])},
             {"image": np.array([2, 0, 0]), "label": np.array([2, 1, 0]),
              "mask": np.array([True, True, False])}]
  seen = []
  class Bar:
    def update(self, k):
      seen.append(k)
  out = metrics.predict(metrics.eval_step(lambda b: eye[b["image"]]), batches,
                        collect_logits=False, progress=Bar())
  assert out.logits is None and out.labels is None and seen == [1, 1]
  assert out.metrics["count"] == 5 and out.metrics["accuracy"] == pytest.approx(3 / 5)
  assert out.metrics["top5"] == 1.0   # 3 classes: every label is in the top 5.


def test_in_batches_pads_to_one_shape_and_cuts_the_padding():
  from experiments.eval import inference
  shapes = []
  def double(x):
    shapes.append(x.shape)
    return np.stack([2 * x, 3 * x])      # a stack of two "models": the batch on axis 1
  images = np.arange(10, dtype=np.int32)[:, None]
  out = inference.in_batches(double, images, batch_size=4, axis=1)
  assert shapes == [(4, 1)] * 3          # 4 + 4 + 2 rows, the last padded to 4
  np.testing.assert_array_equal(out[:, :, 0], [2 * np.arange(10), 3 * np.arange(10)])


class RecordingBar:
  def __init__(self):
    self.n = 0

  def update(self, k):
    self.n += k

  def set_postfix(self, **kw):
    del kw

  def unpause(self):
    pass


def test_train_meter_reports_only_completed_steps_and_their_rate(tmp_path):
  # A "device" step that takes 50 ms and records when it finished.
  import time
  from jax.experimental import io_callback
  done = []

  def slow(step):
    time.sleep(0.05)
    done.append(int(step))
    return np.float32(1.0)

  @jax.jit
  def step_fn(step):
    loss = io_callback(slow, jax.ShapeDtypeStruct((), np.float32), step)
    return {"loss": loss, "accuracy": loss * 0.5}

  bar = RecordingBar()
  meter = writers.TrainMeter(batch_size=10, steps_per_epoch=100, total_steps=30,
                             log_every_steps=10, schedule=lambda s: 0.1,
                             log_path=str(tmp_path / "log.jsonl"), bar=bar, lag=2)
  for step in range(1, 31):
    meter.dispatched(step, step_fn(step))
    completed = len(done)
    assert bar.n <= 10 * completed          # Never ahead of the device.
    assert step - bar.n // 10 <= 2          # Dispatch trails by at most `lag` steps.
  meter.drain()
  assert bar.n == 300 and done == list(range(1, 31))
  rows = [json.loads(l) for l in open(tmp_path / "log.jsonl")]
  assert [r["step"] for r in rows] == [10, 20, 30]
  assert rows[-1]["loss"] == 1.0 and rows[-1]["accuracy"] == 0.5
  # 10 images per 50 ms step: about 200 images/s, not the dispatch rate (thousands/s). The
  # meter stamps a step when it sees it finish, up to `lag` steps late, so the bound is loose.
  assert 120 < rows[-1]["images_per_sec"] < 300


def test_train_meter_stops_at_a_non_finite_loss():
  meter = writers.TrainMeter(batch_size=1, steps_per_epoch=10, total_steps=10,
                             log_every_steps=5, schedule=lambda s: 0.5, log_path=None, bar=None)
  meter.dispatched(1, {"loss": np.float32(1.0), "accuracy": np.float32(0)})
  meter.dispatched(2, {"loss": np.float32(np.nan), "accuracy": np.float32(0)})
  with pytest.raises(writers.NonFiniteLossError, match="step 2") as err:
    meter.drain()
  assert err.value.step == 2
