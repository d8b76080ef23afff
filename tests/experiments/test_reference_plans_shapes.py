"""The reference plans of claims 4 and 8 (`claim48`) and 7 (`claim7`), without training.

Estimates are restated from the numbers the plans document: the H200's 60,970 images/s of
PreAct-ResNet-18 on 32×32 (0.968 GFLOPs per image), scaled by forward FLOPs per image (3.245
GFLOPs for resnet_small(width=64, blocks=2) on 64×64; 1.476 for the U-Net, slowed 3×), 50 s to
generate the data, 30 s to compile, and per classifier 1 s of CAM boxes and 2 s of occlusion
on the host.
"""

import itertools
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from experiments import device_plan
from experiments import reference_plan as plan
from experiments import segmentation_reference as seg
from experiments import shapes_reference as shapes_plan
from experiments.data import shapes

PLANS = {"claim48": (shapes_plan.claim48, shapes_plan.call_seconds),
         "claim7": (seg.claim7, seg.call_seconds)}


def _shapes_model_s() -> float:
  rate = 60970 * 0.968 / 3.245
  return 40 * 39 * 256 / rate + (12 * 2000 + 10000) / (3 * rate) + 1 + 2


def _segmentation_model_s() -> float:
  rate = 60970 * 0.968 / 1.476 / 3
  return 30 * 39 * 256 / rate + 12000 / (3 * rate)


def test_claims_hold_the_issues_runs():
  four = shapes_plan.claim48()
  assert four.name == "shapes_methods_reference"
  methods = ("baseline", "cutout", "mixup", "cutmix", "resizemix", "saliencymix", "fmix")
  assert sorted((m.method, m.seed) for m in four.models) == sorted(
      itertools.product(methods, (0, 1, 2)))
  assert [m.seed for m in four.models] == [0] * 7 + [1] * 7 + [2] * 7   # Seed-major.
  seven = seg.claim7()
  assert seven.name == "segmentation_reference"
  assert sorted((m.method, m.seed) for m in seven.models) == sorted(itertools.product(
      ("none", "cutmix_images_only", "cutmix_consistent", "mixup_consistent"), (0, 1, 2)))
  for claim in (four, seven):
    for m in claim.models:
      assert dict(m.tags) == {"method": m.method} and m.run == f"{m.method}/seed{m.seed}"
  assert plan.planned_runs("shapes_methods_reference") == 21
  assert plan.planned_runs("segmentation_reference") == 12


@pytest.mark.parametrize("claim", sorted(PLANS))
@pytest.mark.parametrize("budget_s", [200.0, 300.0, 480.0, 2000.0])
def test_split_covers_every_run_once_within_budget(claim, budget_s):
  build, seconds = PLANS[claim]
  models = build().models
  calls = device_plan.split(models, budget_s, seconds)
  assert [m for call in calls for m in call] == list(models)   # Each once, in plan order.
  for k, call in enumerate(calls):
    assert call and seconds(call) <= budget_s
    if k + 1 < len(calls):   # Greedy: the next call's first model would not have fitted.
      assert seconds(call + [calls[k + 1][0]]) > budget_s


def test_call_estimates_restate_the_scaled_h200_measurement():
  four = shapes_plan.claim48().models
  assert shapes_plan.call_seconds(four[:3]) == pytest.approx(50 + 30 + 3 * _shapes_model_s())
  # Seeds 0 and 1 (9 models): two stacked groups, each compiled.
  assert shapes_plan.call_seconds(four[:9]) == pytest.approx(50 + 2 * 30 + 9 * _shapes_model_s())
  seven = seg.claim7().models
  assert seg.call_seconds(seven) == pytest.approx(50 + 30 + 12 * _segmentation_model_s())


def test_calls_per_claim_at_eight_minutes():
  """The numbers docs/experiments.md states: claims 4 and 8 in 2 calls, claim 7 in 1."""
  calls = device_plan.split(shapes_plan.claim48().models, 480, shapes_plan.call_seconds)
  assert [len(c) for c in calls] == [14, 7]
  assert [sorted({m.seed for m in c}) for c in calls] == [[0, 1], [2]]
  assert all(shapes_plan.call_seconds(c) <= 480 for c in calls)
  calls = device_plan.split(seg.claim7().models, 480, seg.call_seconds)
  assert [len(c) for c in calls] == [12]


def test_list_prints_each_call_and_its_device_command(tmp_path):
  out = tmp_path / "out"
  out.mkdir()
  (out / "mixup__seed2.json").write_text("{}")   # One run of call 2 done.
  lines = []
  assert plan.main(["claim48", "--list", "--out", str(out)], log=lines.append) == 0
  calls = [l for l in lines if l.startswith("call ")]
  assert [l.split(":")[0] for l in calls] == ["call 1/2", "call 2/2"]
  assert "(0 done)" in calls[0] and "(1 done)" in calls[1]
  commands = [l for l in lines if l.strip().startswith("run(")]
  assert len(commands) == 2
  for k, command in enumerate(commands, 1):
    assert f"experiments.reference_plan claim48 --call {k} --code-commit " in command
    assert "--archive" not in command and "carry=" not in command   # Data made on the device.
    assert f"$OUT/shapes_methods_reference_call{k}.tgz" in command and "timeout 570" in command


def test_call_needs_no_archive_but_stays_in_the_plan():
  with pytest.raises(SystemExit) as e:
    plan.main(["claim7", "--call", "2"], log=lambda *a, **k: None)
  assert "--call must be in [1, 1]" in str(e.value)


@pytest.mark.parametrize("size", [16, 64])
def test_data_are_the_embedded_builders_at_the_plans_size(size):
  recipe = shapes_plan.Recipe(image_size=size, num_train=30, num_test=20)
  train, test, info = shapes_plan.load_shapes(recipe)
  for split, arrays, n in (("train", train, 30), ("test", test, 20)):
    want = shapes.generate(n, split=split, image_size=size)
    for key in ("image", "box", "object_mask"):
      np.testing.assert_array_equal(arrays[key], want[key])
    np.testing.assert_array_equal(arrays["label"], want["label"])
    assert arrays["image"].shape == (n, size, size, 3) and arrays["label"].dtype == np.int32
    # Each box is the tightest window around its mask (y2, x2 exclusive).
    for mask, (y1, x1, y2, x2) in zip(arrays["object_mask"], arrays["box"]):
      ys, xs = np.nonzero(mask)
      assert (y1, x1, y2, x2) == (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1)
  pixels = train["image"].reshape(-1, 3).astype(np.float64)
  np.testing.assert_allclose(info.mean, pixels.mean(0))
  np.testing.assert_allclose(info.std, pixels.std(0))
  assert info.image_shape == (size, size, 3) and info.num_classes == 10
  assert info.name == f"shapes_{size}x{size}"


def test_plans_import_and_generate_without_tfds_or_grain():
  """The lent GPU has neither TensorFlow / TFDS nor grain: the command line and the data of
  every plan must not import them (the shapes generator lives outside `data/datasets/`)."""
  code = ("import sys\n"
          "for name in ('tensorflow', 'tensorflow_datasets', 'grain'):\n"
          "  sys.modules[name] = None\n"
          "from experiments import reference_plan, segmentation_reference, shapes_reference\n"
          "recipe = shapes_reference.Recipe(image_size=16, num_train=20, num_test=10)\n"
          "train, test, info = shapes_reference.load_shapes(recipe)\n"
          "assert train['object_mask'].shape == (20, 16, 16) and len(test['box']) == 10\n")
  root = pathlib.Path(__file__).resolve().parents[2]
  env = {**os.environ, "PYTHONPATH": str(root)}
  proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
