"""The segmentation task (experiments/train/segmentation.py): metrics by hand, coherent vs incoherent mixing, train + resume."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.train import checkpointing
from experiments.data import pipeline as input_pipeline
from experiments.report import segmentation as report_segmentation
from experiments import train
from experiments.eval import metrics
from experiments.train import segmentation
from experiments import studies
from experiments.configs import segmentation as seg_config

K = 11


# ----------------------------------------------------------------------------- metrics


def test_segmentation_metrics_hand_computed():
  # Rows: truth, columns: prediction. Class 2 is never true but predicted once; class 3 absent.
  confusion = np.array([[50, 3, 1, 0],
                        [4, 10, 0, 0],
                        [0, 0, 0, 0],
                        [0, 0, 0, 0]])
  m = metrics.segmentation_metrics(confusion)
  # IoU_0 = 50 / (54 + 54 - 50), IoU_1 = 10 / (14 + 13 - 10), IoU_2 = 0 / (0 + 1 - 0).
  iou = [50 / 58, 10 / 17, 0.0]
  assert m["class_iou"][:3] == pytest.approx(iou) and m["class_iou"][3] is None
  assert m["miou"] == pytest.approx(sum(iou) / 3)
  assert m["pixel_accuracy"] == pytest.approx(60 / 68)
  # Object vs background: tp 10, fp 3 + 1, fn 4.
  assert m["object_iou"] == pytest.approx(10 / 18)


def test_confusion_of_eval_step_counts_pixels_like_numpy():
  rng = np.random.default_rng(0)
  truth = rng.integers(0, K, size=(3, 4, 5))
  predicted = rng.integers(0, K, size=(3, 4, 5))
  valid = np.array([True, False, True])
  counts = np.zeros((K, K), np.int64)
  for b in range(3):
    if valid[b]:
      for t, p in zip(truth[b].ravel(), predicted[b].ravel()):
        counts[t, p] += 1
  got = metrics.confusion_matrix(jnp.asarray(truth), jnp.asarray(predicted),
                                      jnp.asarray(valid), K)
  np.testing.assert_array_equal(np.asarray(got), counts)


def test_dense_targets_are_background_or_one_plus_label():
  mask = np.array([[[0, 1], [1, 0]], [[1, 1], [0, 0]]], np.uint8)
  got = segmentation.dense_targets(jnp.asarray(mask), jnp.asarray([3, 0]))
  np.testing.assert_array_equal(np.asarray(got), [[[0, 4], [4, 0]], [[1, 1], [0, 0]]])
  got = segmentation.dense_targets(jnp.asarray(mask), jnp.asarray([3, 0]), "object")
  np.testing.assert_array_equal(np.asarray(got), mask)


# ----------------------------------------------------------------------------- mixing


def _id_batch(b=8, size=16):
  """Image i holds the value i everywhere, its target map i % K: a pixel's source is readable."""
  ids = np.arange(b)
  images = np.broadcast_to(ids[:, None, None, None], (b, size, size, 3)).astype(np.uint8)
  maps = np.broadcast_to(ids[:, None, None] % K, (b, size, size)).astype(np.int32)
  return jnp.asarray(images), jnp.asarray(ids % K), jnp.asarray(maps)


@pytest.mark.parametrize("seed", [0, 1])
def test_cutmix_consistent_targets_follow_the_pasted_pixels(seed):
  images, labels, maps = _id_batch()
  key = jax.random.key(seed)
  mix = lambda method: jax.jit(segmentation.make_mix_fn(method, num_classes=K, alpha=1.0,
                                                        prob=1.0))(key, images, labels, maps)
  img_c, rows_c = mix("cutmix_consistent")
  img_i, rows_i = mix("cutmix_images_only")
  # The same draws: identical images either way.
  np.testing.assert_array_equal(np.asarray(img_c), np.asarray(img_i))
  source = np.asarray(img_c)[..., 0].astype(int)   # which image each pixel came from
  pasted = source != np.asarray(maps)
  assert pasted.any() and not pasted.all()
  rows_c, rows_i = np.asarray(rows_c), np.asarray(rows_i)
  # Consistent: every pixel's target is the class of the image its pixel came from.
  np.testing.assert_array_equal(rows_c, np.eye(K)[source])
  # Images only: the targets are the unmixed maps, wrong exactly on the pasted pixels.
  np.testing.assert_array_equal(rows_i, np.eye(K)[np.asarray(maps)])
  assert (rows_i.argmax(-1) != source)[pasted].all()
  assert (rows_i.argmax(-1) == source)[~pasted].all()


def test_mixup_consistent_rows_blend_like_the_pixels():
  images, labels, maps = _id_batch()
  img, rows = segmentation.make_mix_fn("mixup_consistent", num_classes=K, alpha=1.0, prob=1.0)(
      jax.random.key(3), images, labels, maps)
  img, rows = np.asarray(img), np.asarray(rows)
  assert img.dtype == np.float32
  # Pixel value i·(1−w) + j·w is the expected class id under the target rows.
  np.testing.assert_allclose((rows * np.arange(K)).sum(-1), img[..., 0], atol=1e-4)
  np.testing.assert_allclose(rows.sum(-1), 1.0, atol=1e-6)
  _, rows_i = segmentation.make_mix_fn("mixup_images_only", num_classes=K, alpha=1.0, prob=1.0)(
      jax.random.key(3), images, labels, maps)
  np.testing.assert_array_equal(np.asarray(rows_i), np.eye(K)[np.asarray(maps)])


def test_prob_zero_and_none_leave_the_batch_alone():
  images, labels, maps = _id_batch()
  for method, prob in (("cutmix_consistent", 0.0), ("none", 1.0)):
    img, rows = segmentation.make_mix_fn(method, num_classes=K, alpha=1.0, prob=prob)(
        jax.random.key(0), images, labels, maps)
    np.testing.assert_array_equal(np.asarray(img), np.asarray(images))
    np.testing.assert_array_equal(np.asarray(rows), np.eye(K)[np.asarray(maps)])


def test_prob_half_mixes_some_images_and_not_others():
  images, labels, maps = _id_batch(b=32)
  img, rows = segmentation.make_mix_fn("cutmix_consistent", num_classes=K, alpha=1.0,
                                       prob=0.5)(jax.random.key(0), images, labels, maps)
  changed = (np.asarray(img) != np.asarray(images)).any(axis=(1, 2, 3))
  assert 0 < changed.sum() < 32
  np.testing.assert_array_equal(np.asarray(rows).argmax(-1), np.asarray(img)[..., 0] % K)


def test_unknown_method_is_one_line():
  with pytest.raises(ValueError, match="method must be one of"):
    segmentation.make_mix_fn("cutmix", num_classes=K, alpha=1.0, prob=1.0)


# ----------------------------------------------------------------------------- pipeline


def test_train_masks_get_the_images_crop_and_flip():
  arrays = input_pipeline.load_split_arrays("shapes", "train")
  kwargs = dict(batch_size=16, seed=5, prefetch=0, extra_features=("object_mask",))
  plain = next(input_pipeline.train_batches("shapes", augment=False, **kwargs))
  aug = next(input_pipeline.train_batches("shapes", augment=True, **kwargs))
  # The order does not depend on augmentation: find each row's source example.
  index = [int(np.flatnonzero((arrays["image"] == im).all(axis=(1, 2, 3)))[0])
           for im in plain["image"]]
  np.testing.assert_array_equal(plain["object_mask"], arrays["object_mask"][index])
  offsets, flips = input_pipeline.augment_draws(5, 0, 16)
  for j, i in enumerate(index):
    (oy, ox), padded = offsets[j], np.pad(arrays["object_mask"][i], 4)
    expected = padded[oy:oy + 32, ox:ox + 32]
    expected = expected[:, ::-1] if flips[j] else expected
    np.testing.assert_array_equal(aug["object_mask"][j], expected)
    # And the image got the same window: object pixels line up with the masks.
    image = np.pad(arrays["image"][i], ((4, 4), (4, 4), (0, 0)))[oy:oy + 32, ox:ox + 32]
    np.testing.assert_array_equal(aug["image"][j], image[:, ::-1] if flips[j] else image)


# ----------------------------------------------------------------------------- training


def _tiny_config(steps=6):
  c = seg_config.get_config()
  c.model_kwargs.widths = (4, 8)
  c.train_size = 160
  c.batch_size = 16
  c.num_train_steps = steps
  c.checkpoint_every_steps = 2
  c.log_every_steps = 2
  c.eval_batch_size = 1000
  c.method = "cutmix_consistent"
  c.progress_bar = False
  return c


def test_train_writes_metrics_and_resumes_bitwise(tmp_path, monkeypatch):
  config = _tiny_config()
  whole = train.train_and_evaluate(config, str(tmp_path / "whole"))
  assert whole["steps"] == 6 and 0.0 <= whole["eval_miou"] <= 1.0
  assert whole["eval_pixel_accuracy"] > 0.5   # background alone is ~83% of the pixels
  rows = [json.loads(l) for l in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
  assert rows[-1]["step"] == 6 and "eval_miou" in rows[-1]
  # Stop after step 3 (the path of Ctrl-C: checkpoint, then Interrupted), then resume.
  stop = lambda self, step: "SIGINT" if step == 3 else None
  monkeypatch.setattr(checkpointing.StopRequests, "__call__", stop)
  with pytest.raises(checkpointing.Interrupted):
    train.train_and_evaluate(config, str(tmp_path / "split"))
  assert sorted(p.name for p in (tmp_path / "split" / "checkpoints").iterdir()) == ["2", "3"]
  monkeypatch.undo()
  resumed = train.train_and_evaluate(config, str(tmp_path / "split"))
  a = checkpointing.load_numpy(str(tmp_path / "whole" / "checkpoints"), 6)
  b = checkpointing.load_numpy(str(tmp_path / "split" / "checkpoints"), 6)
  jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
  assert resumed["confusion"] == whole["confusion"]
  # Every test pixel counted once, in the row of its true class (object / background).
  test_masks = input_pipeline.load_split_arrays("shapes", "test")["object_mask"]
  np.testing.assert_array_equal(np.sum(whole["confusion"], axis=1),
                                np.bincount(test_masks.ravel(), minlength=2))
  # A finished run is returned, not trained again.
  log = (tmp_path / "split" / "train_log.jsonl").read_text()
  again = train.train_and_evaluate(config, str(tmp_path / "split"))
  assert again == json.loads((tmp_path / "split" / "summary.json").read_text())
  assert (tmp_path / "split" / "train_log.jsonl").read_text() == log


@pytest.mark.slow
def test_shape_classes_with_mixup_train_and_count_every_pixel(tmp_path):
  config = _tiny_config(steps=4)
  config.targets, config.method = "shape", "mixup_consistent"
  summary = train.train_and_evaluate(config, str(tmp_path))
  confusion = np.asarray(summary["confusion"])
  assert confusion.shape == (K, K) and len(summary["class_iou"]) == K
  # Ground-truth pixels per class, from the test masks directly.
  test = input_pipeline.load_split_arrays("shapes", "test")
  truth = test["object_mask"].astype(int) * (np.asarray(test["label"])[:, None, None] + 1)
  np.testing.assert_array_equal(confusion.sum(1), np.bincount(truth.ravel(), minlength=K))


def test_bad_config_is_one_line(tmp_path):
  config = _tiny_config()
  config.method = "cutmix"
  with pytest.raises(ValueError, match="config.method must be one of"):
    train.train_and_evaluate(config, str(tmp_path))
  assert not any(tmp_path.iterdir())


# ----------------------------------------------------------------------------- study, report


def test_study_loads_seed_major_with_the_segmentation_task():
  study = studies.load("segmentation")
  assert study.train is None   # The one trainer; config.task picks segmentation.
  methods = ["none", "cutmix_images_only", "cutmix_consistent", "mixup_consistent"]
  assert [r.name for r in study.runs[:4]] == [f"{m}/seed0" for m in methods]
  assert len(study.runs) == 12 and {r.config.seed for r in study.runs} == {0, 1, 2}
  for run in study.runs:
    assert run.config.method == run.tags["method"]
    assert train.task_of(run.config) is segmentation.TASK
    train.validate_config(run.config)


def _fake_row(method, seed, miou):
  return {"study": "segmentation", "run": f"{method}/seed{seed}", "seed": seed,
          "tags": {"method": method, "seed": seed},
          "config": {"num_epochs": 5, "targets": "object"},
          "summary": {"eval_miou": miou, "eval_pixel_accuracy": 0.9, "eval_object_iou": 0.5},
          "epochs": [{"epoch": 1.0, "eval_miou": miou / 2}, {"epoch": 2.0, "eval_miou": miou}],
          "device": {"device_kind": "cpu", "device_count": 1, "platform": "cpu",
                     "cpu_count": 2},
          "finished_at": "2026-11-25T18:00:00+00:00", "git_commit": "abcdef0123"}


def test_report_section_pairs_by_seed(tmp_path):
  none = [0.50, 0.60, 0.70]
  cut = [0.40, 0.49, 0.61]   # sd √(0.0111) = 10.54 points; differences −0.10, −0.11, −0.09
  rows = ([_fake_row("none", s, v) for s, v in enumerate(none)]
          + [_fake_row("cutmix_images_only", s, v) for s, v in enumerate(cut)])
  lines = report_segmentation.section_segmentation("segmentation", rows, tmp_path)
  text = "\n".join(lines)
  half = 4.303 * 0.01 / np.sqrt(3) * 100   # t(0.975, 2) · sd / √n, in points
  assert f"| none | 3 | 60.00 ± 10.00 | 90.00 ± 0.00 | 50.00 ± 0.00 | – |" in text
  assert (f"| cutmix_images_only | 3 | 50.00 ± 10.54 | 90.00 ± 0.00 | 50.00 ± 0.00 "
          f"| -10.00 [{-10 - half:+.2f}, {-10 + half:+.2f}] * |") in text
  assert "cutmix_images_only vs none: lower mIoU" in text
  assert (tmp_path / "segmentation_miou.png").exists()
