"""Pieces the study files share: method configs and the per-run analyses."""

from __future__ import annotations

from collections.abc import Mapping
import os
from typing import Any

import numpy as np

from experiments.eval import analysis
from experiments.eval import inference
from experiments.train import checkpointing
from experiments.configs import cifar
from experiments.configs import default
from experiments.data import registry

METHODS, VARIANTS = cifar.METHODS, cifar.VARIANTS   # The one method map: configs/cifar.py.


def method_config(method: str, *, dataset: str, model: str = "resnet_small", epochs: int,
                  train_size: int = 0, batch_size: int = 128, learning_rate: float = 0.1,
                  **overrides):
  """One regularizer on the shared recipe (SGD + Nesterov, cosine, wd 5e-4, crop + flip).

  Settings per method are the papers' CIFAR ones (`configs.cifar.set_method`): Cutout 16×16,
  Mixup α = 1, CutMix α = 1 on half of the batches.
  """
  config = default.get_config()
  config.dataset = dataset
  config.model = model
  config.num_epochs = epochs
  config.batch_size = batch_size
  config.learning_rate = learning_rate
  config.warmup_epochs = 1.0
  config.eval_every_epochs = max(1, epochs // 5)
  config.checkpoint_every_steps = 200
  config.progress_bar = False
  config.train_size = train_size
  cifar.set_method(config, method)
  for key, value in overrides.items():
    config[key] = value
  return config


def calibration_from_logits(workdir: str) -> dict[str, Any]:
  saved = np.load(os.path.join(workdir, "eval_logits.npz"))
  return analysis.calibration(saved["logits"], saved["labels"])


def analyze_calibration(run, workdir: str, summary: Mapping[str, Any]) -> dict[str, Any]:
  del run, summary
  return {"calibration": calibration_from_logits(workdir)}


def _predict_fn(trained, batch_size: int = 500):
  """uint8 images [N, H, W, C] → predicted class ids [N], in fixed-size batches."""
  return lambda images: inference.in_batches(trained.logits_fn, images, batch_size).argmax(-1)


def _test_arrays(config):
  return registry.load_split_arrays(config.dataset, "test", data_dir=config.data_dir or None)


def analyze_robustness(run, workdir: str, summary: Mapping[str, Any]) -> dict[str, Any]:
  """Calibration, plus accuracy under occlusion of the test images (same boxes for every run)."""
  del run, summary
  trained = inference.load_trained(workdir)
  test = _test_arrays(trained.config)
  curves = analysis.occlusion_curves(_predict_fn(trained), test["image"],
                                     np.asarray(test["label"]), mean=trained.info.mean)
  return {"calibration": calibration_from_logits(workdir), "occlusion": curves}


def train_fit(trained) -> dict[str, Any]:
  """The final model's accuracy on its own training images, un-augmented, in eval mode.

  Issue 19's criterion for "the baseline fits" (>= 95%). The running train accuracy in
  `epochs` is lower: it is measured on cropped and flipped images while the weights move.
  """
  arrays, rows = train_arrays(trained.config)
  predicted = _predict_fn(trained)(arrays["image"][rows])
  correct = predicted == np.asarray(arrays["label"])[rows]
  return {"accuracy": float(np.mean(correct)), "images": int(len(rows))}


def train_arrays(c) -> tuple[dict[str, np.ndarray], np.ndarray]:
  """The train split's arrays and the rows a run trained on (its subset, as in training)."""
  data_dir = c.data_dir or None
  arrays = registry.load_split_arrays(c.dataset, "train", data_dir=data_dir)
  if c.get("train_size") or c.get("holdout_size"):  # 0 means the whole split.
    rows, _ = registry.subset_indices(
        arrays["label"], train_size=c.train_size or None, holdout_size=c.get("holdout_size", 0),
        num_classes=registry.get_info(c.dataset, data_dir).num_classes)
  else:
    rows = np.arange(len(arrays["label"]))
  return arrays, rows


def with_train_fit(analyze):
  """`analyze` plus `train_fit`: for the studies whose regime must show that the baseline fits."""
  def analyze_with_fit(run, workdir: str, summary: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(analyze(run, workdir, summary))
    out["train_fit"] = train_fit(inference.load_trained(workdir))
    return out
  return analyze_with_fit


def class_maps_fn(trained, workdir: str):
  """uint8 images → class activation maps [N, h, w, K] = features · head kernel + bias.

  Their mean over (h, w) is the logits. The localization box is invariant to the bias (it
  thresholds each map relative to its own range).
  """
  head = checkpointing.load_numpy(os.path.join(workdir, "checkpoints"))["params"]["head"]
  kernel, bias = np.asarray(head["kernel"], np.float32), np.asarray(head["bias"], np.float32)

  def class_maps(images, batch_size: int = 500):
    maps = lambda part: np.asarray(trained.features_fn(part), np.float32) @ kernel + bias
    return inference.in_batches(maps, images, batch_size)
  return class_maps


def analyze_localization(run, workdir: str, summary: Mapping[str, Any]) -> dict[str, Any]:
  """Robustness and calibration, plus CAM localization against the dataset's object boxes."""
  out = analyze_robustness(run, workdir, summary)
  trained = inference.load_trained(workdir)
  test = _test_arrays(trained.config)
  images, labels = test["image"], np.asarray(test["label"])
  maps = class_maps_fn(trained, workdir)(images)
  predicted = _predict_fn(trained)(images)
  h, w = images.shape[1:3]
  out["localization"] = analysis.localization(maps, labels, predicted, np.asarray(test["box"]),
                                              h, w)
  return out
