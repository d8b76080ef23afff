"""experiments/patch_stats.py: per-sample visibility fractions on hand-made maps and a real op."""

import json

import numpy as np

from experiments import patch_stats


def test_sample_stats_hand_made():
  # Batch of 2 (flip partners 0 <-> 1), 4x4 images. Object 0: top row (4 px); object 1: left
  # column (4 px).
  masks = np.zeros((2, 4, 4), np.uint8)
  masks[0, 0, :] = 1
  masks[1, :, 0] = 1
  maps = patch_stats.object_maps(masks)
  assert set(np.unique(maps[0])) == {0, 1} and set(np.unique(maps[1])) == {0, 2}
  mixed = maps.copy()
  # Image 0 receives a 2x2 patch of image 1 at the top-left: hides 2 of its 4 object pixels and
  # brings in 2 of the partner's 4.
  mixed[0, 0:2, 0:2] = maps[1, 0:2, 0:2]
  # Image 1 receives a patch of image 0 at the bottom-right: no object pixel either way.
  mixed[1, 2:4, 2:4] = maps[0, 2:4, 2:4]
  s = patch_stats.sample_stats(maps, mixed, partner_weight=np.array([0.25, 0.25]))
  np.testing.assert_allclose(s["own_visible"], [0.5, 1.0])
  np.testing.assert_allclose(s["partner_pasted"], [0.5, 0.0])
  np.testing.assert_allclose(s["content_weight"], [0.5, 0.0])   # 2 of 4 visible px are partner's


def test_cutmix_measure_is_consistent_with_its_definition():
  out = patch_stats.measure("cutmix", num_images=1000, batch_size=1000)
  assert out["images"] == 1000
  assert 0.9 < out["mixed"] <= 1.0
  assert 0 <= out["own_hidden"] <= out["own_mostly_hidden"] <= 1
  # α = 1: the corrected partner weight (pasted area) averages well under 1/2 because boxes are
  # clipped at the border, and above 0.
  assert 0.15 < out["label_weight_mean"] < 0.5


def test_image_size_scales_cutout_and_is_recorded(tmp_path):
  """--image-size: the images of that size (claim48's 64×64), Cutout at half the side."""
  assert patch_stats.main(["--ops", "cutout", "--images", "1000", "--image-size", "16",
                           "--out", str(tmp_path)]) == 0
  out = json.loads((tmp_path / "cutout.json").read_text())
  assert out["image_size"] == 16 and out["options"] == {"size": 8}
  assert out["command"].endswith("--image-size 16") and out["images"] == 1000
  assert 0 < out["own_hidden"] <= out["own_mostly_hidden"] < 1
  assert patch_stats.options("cutout") == {"size": 16}   # The 32×32 default is unchanged.
  assert patch_stats.main(["--image-size", "4", "--out", str(tmp_path)]) == 2
