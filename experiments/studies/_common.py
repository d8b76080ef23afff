"""Pieces the study files share: method configs and the per-run analyses."""

from __future__ import annotations

from collections.abc import Mapping
import os
from typing import Any

import numpy as np

from experiments import analysis
from experiments.configs import default

METHODS = ("baseline", "cutout", "mixup", "cutmix")


def method_config(method: str, *, dataset: str, model: str = "resnet_small", epochs: int,
                  train_size: int = 0, batch_size: int = 128, learning_rate: float = 0.1,
                  **overrides):
  """One regularizer on the shared recipe (SGD + Nesterov, cosine, wd 5e-4, crop + flip).

  Settings per method are the papers' CIFAR ones: Cutout 16×16 (DeVries & Taylor 2017), Mixup
  α = 1 (Zhang et al. 2018), CutMix α = 1 on half of the batches (Yun et al. 2019).
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
  if method == "baseline":
    config.mix = "none"
  elif method == "cutout":
    config.mix = "cutout"
    config.cutout_size = 16
  elif method == "mixup":
    config.mix, config.mixup_alpha = "mixup", 1.0
  elif method == "cutmix":
    config.mix, config.cutmix_alpha, config.mix_prob = "cutmix", 1.0, 0.5
  else:
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")
  for key, value in overrides.items():
    config[key] = value
  return config


def calibration_from_logits(workdir: str) -> dict[str, Any]:
  saved = np.load(os.path.join(workdir, "eval_logits.npz"))
  return analysis.calibration(saved["logits"], saved["labels"])


def analyze_calibration(run, workdir: str, summary: Mapping[str, Any]) -> dict[str, Any]:
  del run, summary
  return {"calibration": calibration_from_logits(workdir)}
