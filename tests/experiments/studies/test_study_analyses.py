"""The studies' per-run analyses on a real (tiny) finished run: what each result JSON stores.

The analysis functions themselves are checked against hand-computed values in
tests/experiments/eval/test_analysis.py; this checks the glue a study runs after training
(checkpoint restore,
test arrays, class maps from the head) end to end, so a study cannot train for an hour and
then fail in its analysis.
"""

import json
import math

import numpy as np
import pytest

from experiments import train
from experiments.configs import test as test_config
from experiments.studies import _common


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("shapes_run")
  config = test_config.get_config()
  config.num_train_steps = 8
  summary = train.train_and_evaluate(config, str(workdir))
  return str(workdir), summary


def test_localization_analysis_of_a_finished_shapes_run(finished_run):
  workdir, summary = finished_run
  out = _common.analyze_localization(None, workdir, summary)
  json.dumps(out)   # it goes into the result JSON as is
  assert set(out) == {"calibration", "occlusion", "localization"}
  loc = out["localization"]
  assert 0.0 <= loc["top1_loc"] <= loc["gt_known_loc"] <= 1.0
  assert 0.0 <= loc["mean_iou"] <= 1.0
  occ = out["occlusion"]
  assert occ["fractions"][0] == 0.0
  # Unoccluded, the three curves are the plain accuracy of the saved eval.
  for kind in ("random_zero", "random_mean", "centre_mean"):
    assert len(occ[kind]) == len(occ["fractions"])
    assert occ[kind][0] == pytest.approx(summary["eval_accuracy"], abs=1e-6)
  cal = out["calibration"]
  assert all(math.isfinite(v) for v in np.ravel([cal[k] for k in cal
                                                 if isinstance(cal[k], float)]))


def test_class_maps_average_to_the_logits(finished_run):
  """CAM = features · head kernel (+ bias / hw): its spatial mean is the model's logits."""
  from experiments.eval import inference
  workdir, _ = finished_run
  trained = inference.load_trained(workdir)
  images = _common._test_arrays(trained.config)["image"][:32]
  maps = _common.class_maps_fn(trained, workdir)(images)
  np.testing.assert_allclose(maps.mean(axis=(1, 2)), np.asarray(trained.logits_fn(images)),
                             rtol=1e-4, atol=1e-4)


def test_train_fit_is_the_accuracy_on_the_runs_own_training_images(finished_run):
  """Issue 19's fit criterion: eval-mode accuracy on the un-augmented training rows it used."""
  from experiments.data import pipeline as input_pipeline
  from experiments.data import registry as data_registry
  from experiments.eval import inference
  workdir, _ = finished_run
  trained = inference.load_trained(workdir)
  config = trained.config
  train = input_pipeline.load_split_arrays(config.dataset, "train", data_dir=None)
  logits = np.concatenate([np.asarray(trained.logits_fn(train["image"][i:i + 256]))
                           for i in range(0, len(train["label"]), 256)])
  expected = np.mean(logits.argmax(-1) == train["label"])
  fit = _common.train_fit(trained)
  assert fit["images"] == len(train["label"])
  assert fit["accuracy"] == pytest.approx(expected, abs=1e-9)

  # On a class-balanced subset: only its rows count.
  with config.unlocked():
    config.train_size = 40
  rows, _ = data_registry.subset_indices(train["label"], train_size=40,
                                         num_classes=int(train["label"].max()) + 1)
  subset = _common.train_fit(trained)
  assert subset["images"] == 40
  assert subset["accuracy"] == pytest.approx(np.mean(logits[rows].argmax(-1) == train["label"][rows]),
                                             abs=1e-9)
