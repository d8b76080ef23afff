"""Image-folder datasets (split/label/image, as a directory or a .tar[.gz]) decoded with Pillow.

`tfds.folder_dataset.ImageFolder` reads this layout but decodes with TensorFlow; these builders
decode every image once, at preparation, with Pillow, and store uint8 arrays, so that training
reads raw pixels with no decoding at all (and no TensorFlow).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow_datasets as tfds

from experiments.data.datasets import _base
from experiments.data.image_files import CIFAR10_ARCHIVE, CIFAR10_CLASS_NAMES, IMAGE_EXTENSIONS
from experiments.data.image_files import read_image_folder

__all__ = ["CIFAR10_ARCHIVE", "CIFAR10_CLASS_NAMES", "IMAGE_EXTENSIONS", "Cifar10Jpeg",
           "image_folder_builder", "read_image_folder"]


class _ImageFolderArrays(_base.ArraysBuilder, skip_registration=True):
  """Base of the image-folder builders: `source` is only needed to prepare."""

  IMAGE_SHAPE: tuple[int, int, int] = (32, 32, 3)

  def __init__(self, *, source: str | os.PathLike | None = None, **kwargs):
    self._source = source
    super().__init__(**kwargs)

  def _feature_shapes(self):
    return {"image": (self.IMAGE_SHAPE, np.uint8)}

  def _split_arrays(self):
    if self._source is None:
      raise FileNotFoundError(f"{self.name} is not prepared and no source archive was given")
    mode = "L" if self.IMAGE_SHAPE[-1] == 1 else "RGB"
    splits, _ = read_image_folder(self._source, mode=mode, class_names=self.CLASS_NAMES)
    for split, arrays in splits.items():
      if arrays["image"].shape[1:] != self.IMAGE_SHAPE:
        raise ValueError(f"{self.name} expects images of shape {self.IMAGE_SHAPE}, split "
                         f"{split!r} has {arrays['image'].shape[1:]}")
    return splits


class Cifar10Jpeg(_ImageFolderArrays):
  """CIFAR-10 from the JPEG archive (train/<class>/NNNN.jpg, test/...), decoded with Pillow.

  The images were re-encoded as JPEG (quality about 75), so they are slightly lossy: absolute
  accuracies land a little below published CIFAR-10 figures. Krizhevsky, 2009.
  """

  VERSION = tfds.core.Version("1.0.0")
  CLASS_NAMES = CIFAR10_CLASS_NAMES
  IMAGE_SHAPE = (32, 32, 3)


def image_folder_builder(name: str, source: str | os.PathLike | None, *, data_dir: str,
                         mode: str = "RGB") -> tfds.core.DatasetBuilder:
  """A builder for any split/class/image folder, named `name` (classes and shape from `source`)."""
  splits, class_names = read_image_folder(source, mode=mode)
  shape = next(iter(splits.values()))["image"].shape[1:]
  cls = type(name, (_ImageFolderArrays,), {
      "name": name, "CLASS_NAMES": class_names, "IMAGE_SHAPE": tuple(shape),
      "_split_arrays": lambda self: splits,
      "__doc__": f"Image folder {name} prepared from {source}.",
  }, skip_registration=True)
  return cls(data_dir=data_dir, source=source)
