"""TFDS builder for the embedded shapes dataset (its generator: `experiments/data/shapes.py`)."""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from experiments.data.datasets import _base
from experiments.data import shapes


class JaxmixShapes(_base.ArraysBuilder):
  """Procedural shapes: 32x32 RGB, 10 shape classes, one object per image with box and mask.

  Generated offline from a fixed seed (no download); train 10,000 / test 2,000, classes balanced.
  Features: image uint8 [32, 32, 3], label (10 classes), box int32 [4] (y1, x1, y2, x2 with y2, x2
  exclusive), object_mask uint8 [32, 32].
  """

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {
      "1.0.0": "Initial release.",
      "1.1.0": "Object colour contrasts with the background under the object.",
  }
  CLASS_NAMES = shapes.CLASS_NAMES
  SEED = shapes.DEFAULT_SEED
  SPLITS = shapes.SPLITS

  def _feature_shapes(self):
    s = shapes.IMAGE_SIZE
    return {"image": ((s, s, 3), np.uint8), "box": ((4,), np.int32),
            "object_mask": ((s, s), np.uint8)}

  def _split_arrays(self):
    return {split: shapes.generate(n, seed=self.SEED, split=split)
            for split, n in self.SPLITS.items()}
