"""TFDS builders over in-memory numpy arrays, preparable and readable without TensorFlow.

TFDS can write and read a dataset without TensorFlow when (a) the file format is array_record and
(b) every feature encodes in numpy: `tfds.features.Tensor` of fixed shape and `ClassLabel` do;
`tfds.features.Image` does not (its encoder imports TensorFlow even for PNG; its numpy decoder
uses Pillow, so *reading* an Image feature is TF-free). The builders here therefore store images as
uint8 `Tensor` features, and are read back with `builder.as_data_source()`.
"""

from __future__ import annotations

import abc
import fcntl
import pathlib
from typing import Any, Iterator

import numpy as np
import tensorflow_datasets as tfds

FILE_FORMAT = "array_record"


class ArraysBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A builder whose splits are computed as whole numpy arrays, then written example by example.

  Subclasses define `_feature_shapes()` ({name: (shape, dtype)} besides "label"), `CLASS_NAMES`
  and `_split_arrays()` ({split: {feature: array}}).
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  CLASS_NAMES: tuple[str, ...] = ()

  @abc.abstractmethod
  def _feature_shapes(self) -> dict[str, tuple[tuple[int, ...], Any]]:
    ...

  @abc.abstractmethod
  def _split_arrays(self) -> dict[str, dict[str, np.ndarray]]:
    ...

  def _description(self) -> str:
    return (self.__doc__ or "").strip()

  def _info(self) -> tfds.core.DatasetInfo:
    features = {name: tfds.features.Tensor(shape=shape, dtype=dtype, encoding="bytes")
                for name, (shape, dtype) in self._feature_shapes().items()}
    features["label"] = tfds.features.ClassLabel(names=list(self.CLASS_NAMES))
    return tfds.core.DatasetInfo(
        builder=self,
        description=self._description(),
        features=tfds.features.FeaturesDict(features),
        supervised_keys=("image", "label"),
        # Examples are stored in generation order, record i = example i (the input pipeline
        # shuffles), so that eval order and `load_split_arrays` are deterministic.
        disable_shuffling=True,
    )

  def _split_generators(self, dl_manager):
    del dl_manager
    return {split: self._generate_examples(arrays)
            for split, arrays in self._split_arrays().items()}

  def _generate_examples(self, arrays: dict[str, np.ndarray]) -> Iterator[tuple[int, dict]]:
    n = len(arrays["label"])
    for i in range(n):
      yield i, {k: v[i] for k, v in arrays.items()}


def prepare(builder: tfds.core.DatasetBuilder) -> tfds.core.DatasetBuilder:
  """Prepares `builder` (array_record, no download, no TensorFlow) unless already prepared.

  Safe when several processes on one machine prepare the same dataset at once: they take turns
  on a lock file, and all but the first find it prepared.
  """
  if builder.is_prepared():
    return builder
  data_dir = pathlib.Path(builder.data_dir_root)
  data_dir.mkdir(parents=True, exist_ok=True)
  with open(data_dir / f".{builder.name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      if builder.is_prepared():
        # Prepared by another process while this one waited: `builder.info` predates the data.
        return tfds.builder_from_directory(builder.data_dir)
      builder.download_and_prepare(
          file_format=FILE_FORMAT,
          download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)
  return builder
