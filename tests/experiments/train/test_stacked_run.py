"""The stacked mode end to end: a tiny image folder → `python -m experiments.main` with
configs/cifar_reference.py → one result JSON per (method, seed) in the study runner's schema."""

import json

import numpy as np
from PIL import Image

from experiments import cifar_reference
from experiments.configs import cifar_reference as reference_config
from experiments.data import image_files


def _tiny_archive(root, per_class=2):
  rng = np.random.default_rng(0)
  for split in ("train", "test"):
    for name in image_files.CIFAR10_CLASS_NAMES:
      (root / split / name).mkdir(parents=True)
      for k in range(per_class):
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / split / name / f"{k}.png")
  return root


def test_stacked_run_writes_one_result_per_model(tmp_path):
  config = reference_config.get_config()
  config.archive = str(_tiny_archive(tmp_path / "data"))
  config.epochs, config.batch_size, config.width = 1, 8, 4
  config.methods, config.seeds, config.stacking = ("baseline", "cutmix"), (0, 1), "vmap"
  args = cifar_reference.args_from_config(config, str(tmp_path / "out"))
  cifar_reference.check(args)
  assert cifar_reference.run(args) == 0
  names = sorted(p.name for p in (tmp_path / "out").glob("*.json"))
  assert names == ["baseline__seed0.json", "baseline__seed1.json", "cutmix__seed0.json",
                   "cutmix__seed1.json"]
  result = json.loads((tmp_path / "out" / "cutmix__seed1.json").read_text())
  assert result["run"] == "cutmix/seed1" and result["config"]["mix"] == "cutmix"
  assert result["config"]["seed"] == 1 and result["summary"]["steps"] == 20 // 8
  assert result["summary"]["models_stacked"] == 4 and result["summary"]["stacking"] == "vmap"
  assert 0.0 <= result["summary"]["eval_accuracy"] <= 1.0 and len(result["epochs"]) == 1
  assert "--epochs 1 --batch-size 8" in result["command"] and "--width 4" in result["command"]
  assert {"git_commit", "device", "host", "finished_at"} <= set(result)
