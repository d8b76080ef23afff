"""Fashion-MNIST from the original idx files (train-images-idx3-ubyte.gz, ...)."""

from __future__ import annotations

import gzip
import os
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from experiments.data.datasets import _base

CLASS_NAMES = ("t-shirt_top", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle_boot")
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def read_idx(path: str | os.PathLike) -> np.ndarray:
  """Reads an idx file (gzipped or not) into a uint8 array of its declared shape."""
  path = pathlib.Path(path)
  opener = gzip.open if path.suffix == ".gz" else open
  with opener(path, "rb") as f:
    data = f.read()
  magic = int.from_bytes(data[:4], "big")
  if magic >> 8 != 0x08:  # 0x08: unsigned byte
    raise ValueError(f"{path} is not a uint8 idx file (magic {magic:#x})")
  ndim = magic & 0xFF
  shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
  return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


class FashionMnistIdx(_base.ArraysBuilder):
  """Fashion-MNIST (Xiao et al., 2017) from Zalando's original idx files: 28x28x1, 60k/10k."""

  VERSION = tfds.core.Version("1.0.0")
  CLASS_NAMES = CLASS_NAMES

  def __init__(self, *, source: str | os.PathLike | None = None, **kwargs):
    self._source = source
    super().__init__(**kwargs)

  def _feature_shapes(self):
    return {"image": ((28, 28, 1), np.uint8)}

  def _split_arrays(self):
    if self._source is None:
      raise FileNotFoundError(f"{self.name} is not prepared and no source folder was given")
    out = {}
    for split, (images, labels) in FILES.items():
      out[split] = {"image": read_idx(pathlib.Path(self._source) / images)[..., None],
                    "label": read_idx(pathlib.Path(self._source) / labels).astype(np.int64)}
    return out
