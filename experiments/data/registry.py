"""Which datasets exist, where they live, and what the trainer needs to know about them.

Every dataset is a TFDS dataset prepared in array_record format under a `data_dir` and read back
without TensorFlow (`builder.as_data_source()` decodes in numpy / Pillow). A name resolves, in order:

1. a built-in: "shapes" (generated), "cifar10_jpeg" and "fashion_mnist_idx" (from `../shared/data`
   or `$JAXMIX_SHARED_DATA`), each prepared on first use;
2. a TFDS catalogue name ("cifar10", "imagenet2012", ...), prepared elsewhere with `tfds build`;
3. any dataset prepared in `data_dir`, e.g. a folder of your own images:
   `python -m experiments.prepare_data --dataset image_folder --name my_data --source DIR`.

The normalization statistics (`DatasetInfo.mean`/`std`, 0..255 units) belong to the dataset: they
are computed once over its train split and stored beside it. The pipeline yields raw uint8 pixels;
the train step normalizes, in one place.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib

import numpy as np

from experiments.data import image_files

BUILTIN: tuple[str, ...] = ("shapes", "cifar10_jpeg", "fashion_mnist_idx")
# TFDS catalogue datasets the experiments know (any other catalogue name works too).
CATALOGUE: tuple[str, ...] = ("cifar10", "cifar100", "fashion_mnist", "mnist", "imagenet2012")
DATASETS: tuple[str, ...] = BUILTIN + CATALOGUE
# The folders the built-ins are prepared in (named after their TFDS builders).
_BUILTIN_DIRS = ("jaxmix_shapes", "cifar10_jpeg", "fashion_mnist_idx")
_SHARED_FILES = {"cifar10_jpeg": "cifar10-jpeg.tar.gz", "fashion_mnist_idx": "fashion-mnist"}
# Images of varying size (no fixed shape) are streamed and resized to this shape.
STREAMED_SHAPE = (224, 224, 3)
# Published ImageNet statistics: too large to scan, and the usual choice for streamed datasets.
_IMAGENET_STATS = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
_STATS_FILE = "jaxmix_stats.json"
_REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# The fixed permutation that picks train subsets and holdouts: the same for every run seed, so that
# all seeds and methods of a study see the same images.
_SUBSET_SEED = 20240101


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What the trainer needs to know about a dataset. `mean`/`std` are per channel, 0..255 units.

  `num_train` is the number of training examples a run sees (after `train_size`/`holdout_size`).
  """
  name: str
  num_classes: int
  image_shape: tuple  # (H, W, C)
  num_train: int
  num_eval: int
  mean: tuple
  std: tuple
  class_names: tuple
  num_holdout: int = 0


def default_data_dir(data_dir: str | os.PathLike | None = None) -> str:
  """`data_dir`, else `$JAXMIX_DATA_DIR`, else `~/tensorflow_datasets`; None and "" mean default."""
  if data_dir is None or os.fspath(data_dir) == "":
    data_dir = os.environ.get("JAXMIX_DATA_DIR") or "~/tensorflow_datasets"
  return os.path.abspath(os.path.expanduser(os.fspath(data_dir)))


def shared_data_dir() -> pathlib.Path:
  """Folder of the offline real datasets: `$JAXMIX_SHARED_DATA`, else `<repo>/../shared/data`."""
  env = os.environ.get("JAXMIX_SHARED_DATA")
  return pathlib.Path(env) if env else _REPO_ROOT.parent / "shared" / "data"


def prepared_names(data_dir: str | None = None) -> tuple[str, ...]:
  """Names of the datasets prepared in `data_dir` (folders holding `<version>/dataset_info.json`)."""
  root = pathlib.Path(default_data_dir(data_dir))
  if not root.is_dir():
    return ()
  return tuple(sorted(p.name for p in root.iterdir()
                      if p.is_dir() and p.name not in _BUILTIN_DIRS
                      and any(p.glob("*/dataset_info.json"))))


def check_new_name(name: str) -> None:
  """Refuses a name for a user's dataset that a built-in or TFDS catalogue dataset already has."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if not name or not name.isidentifier() or name != name.lower():
    raise ValueError(f"name must be a lower-case identifier (letters, digits, _), got {name!r}")
  if name in BUILTIN or name in tfds.list_builders(with_community_datasets=False):
    raise ValueError(f"name {name!r} is taken by a built-in or TFDS catalogue dataset; "
                     f"choose another")


def _builtin_builder(dataset: str, data_dir: str, source=None):
  from experiments.data import datasets  # pylint: disable=g-import-not-at-top
  if dataset == "shapes":
    return datasets.JaxmixShapes(data_dir=data_dir)
  if dataset == "cifar10_jpeg":
    return datasets.Cifar10Jpeg(data_dir=data_dir, source=source)
  return datasets.FashionMnistIdx(data_dir=data_dir, source=source)


def prepare(dataset: str, data_dir: str | None = None, source: str | os.PathLike | None = None):
  """Prepares a built-in dataset (no-op when prepared) and returns its TFDS builder.

  Args:
    dataset: one of `BUILTIN`.
    data_dir: where prepared datasets live (see `default_data_dir`).
    source: the archive / folder to prepare from; default: the file in `shared_data_dir()`.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from experiments.data import datasets  # pylint: disable=g-import-not-at-top
  if dataset not in BUILTIN:
    raise ValueError(f"dataset must be one of {BUILTIN} to be prepared here, got {dataset!r}; "
                     f"TFDS catalogue datasets need `tfds build {dataset} "
                     f"--file_format=array_record` where TensorFlow and internet are available")
  data_dir = default_data_dir(data_dir)
  if dataset in _SHARED_FILES and source is None:
    source = shared_data_dir() / _SHARED_FILES[dataset]
    if not _builtin_builder(dataset, data_dir).is_prepared() and not source.exists():
      raise FileNotFoundError(
          f"{dataset} is not prepared in {data_dir} and its source {source} was not found: set "
          f"JAXMIX_SHARED_DATA to the folder holding {_SHARED_FILES[dataset]}, or run `python -m "
          f"experiments.prepare_data --dataset {dataset} --source PATH --data_dir {data_dir}`")
  tfds.disable_progress_bar()
  return datasets.prepare(_builtin_builder(dataset, data_dir, source))


def _check_array_record(builder, dataset: str, data_dir: str):
  if str(builder.info.file_format) not in ("array_record", "FileFormat.ARRAY_RECORD"):
    raise ValueError(
        f"{dataset} in {data_dir} is prepared as {builder.info.file_format}; reading without "
        f"TensorFlow needs array_record: rebuild with `tfds build {dataset} "
        f"--file_format=array_record` (or `tfds convert_format`)")
  return builder


def _unknown(dataset, data_dir: str) -> ValueError:
  return ValueError(
      f"unknown dataset {dataset!r}: choose one of {list(BUILTIN)}, a TFDS catalogue name "
      f"(e.g. {', '.join(CATALOGUE)}), or one prepared in {data_dir} "
      f"({', '.join(prepared_names(data_dir)) or 'none yet'}); prepare your own images with "
      f"`python -m experiments.prepare_data --dataset image_folder --name NAME --source DIR`")


def builder(dataset: str, data_dir: str | None = None):
  """The prepared TFDS builder of `dataset` (preparing a built-in one on first use)."""
  if not isinstance(dataset, str) or not dataset:
    raise _unknown(dataset, default_data_dir(data_dir))
  return _builder(dataset, default_data_dir(data_dir))


@functools.lru_cache(maxsize=None)
def _builder(dataset: str, data_dir: str):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if dataset in BUILTIN:
    return prepare(dataset, data_dir)
  try:
    # Catalogue builders know their features (e.g. `Image`, decoded with Pillow).
    catalogue = tfds.builder(dataset, data_dir=data_dir)
  except (tfds.core.registered.DatasetNotFoundError, ValueError):  # Not a catalogue name.
    catalogue = None
  if catalogue is not None:
    if not catalogue.is_prepared():
      raise FileNotFoundError(
          f"TFDS dataset {dataset!r} is not prepared in {data_dir}: it needs a download (no "
          f"internet here); on a machine with TensorFlow and internet run `tfds build {dataset} "
          f"--file_format=array_record --data_dir DIR`, then copy DIR/{dataset} into {data_dir} "
          f"or point JAXMIX_DATA_DIR at DIR")
    return _check_array_record(catalogue, dataset, data_dir)
  versions = sorted(pathlib.Path(data_dir, dataset).glob("*/dataset_info.json"),
                    key=lambda p: tuple(int(x) for x in p.parent.name.split(".") if x.isdigit()))
  if not versions:
    raise _unknown(dataset, data_dir)
  return _check_array_record(tfds.builder_from_directory(str(versions[-1].parent)), dataset,
                             data_dir)


def split_name(dataset_builder, split: str) -> str:
  """`split` of the builder; "test" falls back to "validation" (ImageNet has no labelled test)."""
  splits = dataset_builder.info.splits
  if split == "test" and "test" not in splits and "validation" in splits:
    return "validation"
  if split not in splits:
    raise ValueError(f"split must be one of {sorted(splits)}, got {split!r}")
  return split


def is_streamed(dataset: str, data_dir: str | None = None) -> bool:
  """Whether images vary in size (then streamed and resized to `STREAMED_SHAPE`, not in memory)."""
  shape = builder(dataset, data_dir).info.features["image"].shape
  return any(d is None for d in shape)


def array_features(dataset_builder) -> list[str]:
  """"image", "label" and every other feature that is a fixed-shape numeric array."""
  keys = ["image", "label"]
  for k, f in dataset_builder.info.features.items():
    dtype = np.dtype(getattr(f, "np_dtype", None) or np.object_)
    if k not in keys and dtype.kind in "biuf" and None not in tuple(f.shape):
      keys.append(k)
  return keys


@functools.lru_cache(maxsize=8)
def _load(dataset: str, split: str, data_dir: str) -> dict[str, np.ndarray]:
  b = builder(dataset, data_dir)
  source = b.as_data_source()[split_name(b, split)]
  keys = array_features(b)
  columns = {k: [] for k in keys}
  chunk = 4096
  for start in range(0, len(source), chunk):
    for example in source.__getitems__(list(range(start, min(start + chunk, len(source))))):
      for k in keys:
        columns[k].append(example[k])
  arrays = {}
  for k in keys:
    if columns[k]:
      arrays[k] = np.stack(columns[k])
    else:
      arrays[k] = np.zeros((0,) + tuple(b.info.features[k].shape), np.uint8)
  if arrays["image"].ndim == 3:
    arrays["image"] = arrays["image"][..., None]
  arrays["label"] = arrays["label"].astype(np.int32)
  for k, v in arrays.items():
    if v.dtype == np.int64:  # Half the bytes; JAX computes in 32 bits anyway.
      arrays[k] = v.astype(np.int32)
  for v in arrays.values():
    v.setflags(write=False)  # Shared by every caller through the cache.
  return arrays


def load_split_arrays(dataset: str, split: str, data_dir=None) -> dict[str, np.ndarray]:
  """The whole split in memory, in stored order: "image" uint8 [N, H, W, C], "label" int32 [N].

  Plus every other fixed-shape numeric feature (int64 stored as int32): for "shapes", "box" int32 [N, 4] (y1, x1, y2, x2; y2/x2
  exclusive) and "object_mask" uint8 [N, H, W]. Cached and read-only; copy before modifying.
  """
  data_dir = default_data_dir(data_dir)
  if is_streamed(dataset, data_dir):
    raise ValueError(f"{dataset} has images of varying size and is too large to load whole; "
                     f"use train_batches / eval_batches")
  return _load(dataset, split, data_dir)


def _stats(dataset: str, data_dir: str) -> tuple[tuple, tuple]:
  """Per-channel mean and std of the train images, stored in the prepared dataset's folder."""
  if is_streamed(dataset, data_dir):
    return _IMAGENET_STATS
  path = pathlib.Path(builder(dataset, data_dir).data_dir) / _STATS_FILE
  try:
    stats = json.loads(path.read_text())
    return tuple(stats["mean"]), tuple(stats["std"])
  except (OSError, ValueError, KeyError):
    pass
  mean, std = image_files.channel_stats(load_split_arrays(dataset, "train", data_dir)["image"])
  try:
    path.write_text(json.dumps({"mean": mean, "std": std}))
  except OSError:
    pass  # A read-only data_dir only costs recomputing.
  return mean, std


def subset_indices(labels: np.ndarray, *, train_size: int | None = None, holdout_size: int = 0,
                   num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Class-balanced, disjoint (train, holdout) index subsets of a train split with `labels`.

  Each class's examples are ordered by one fixed permutation (not the run's seed); the holdout
  takes the last `holdout_size / C` of every class and the train subset the first
  `train_size / C` (remainders go to the lowest classes), so a smaller train subset is part of a
  larger one and the holdout does not move when `train_size` changes. `train_size=None`: every
  example not held out. Both index arrays are sorted.
  """
  labels = np.asarray(labels)
  num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
  counts = np.bincount(labels, minlength=num_classes)
  if holdout_size < 0 or holdout_size > len(labels):
    raise ValueError(f"holdout_size must be in [0, {len(labels)}], got {holdout_size}")
  if train_size is not None and not 0 < train_size <= len(labels) - holdout_size:
    raise ValueError(f"train_size must be in [1, {len(labels) - holdout_size}] (train examples "
                     f"{len(labels)} minus holdout_size {holdout_size}), got {train_size}")

  def per_class(total):
    return total // num_classes + (np.arange(num_classes) < total % num_classes)

  holdout_counts = per_class(holdout_size)
  train_counts = counts - holdout_counts if train_size is None else per_class(train_size)
  short = np.flatnonzero(train_counts + holdout_counts > counts)
  if short.size:
    c = int(short[0])
    raise ValueError(f"train_size {train_size} + holdout_size {holdout_size} need "
                     f"{train_counts[c] + holdout_counts[c]} examples of class {c}, which has "
                     f"{counts[c]}")
  order = np.random.default_rng(_SUBSET_SEED).permutation(len(labels))
  train, holdout = [], []
  for c in range(num_classes):
    members = order[labels[order] == c]
    train.append(members[:train_counts[c]])
    holdout.append(members[len(members) - holdout_counts[c]:])
  return np.sort(np.concatenate(train)), np.sort(np.concatenate(holdout))


def get_info(dataset: str, data_dir: str | None = None, *, train_size: int | None = None,
             holdout_size: int = 0) -> DatasetInfo:
  """The `DatasetInfo` of `dataset`, preparing a built-in one on first use.

  With `train_size` / `holdout_size` (see `subset_indices`), `num_train` is the size of the
  subset a run trains on and `num_holdout` that of the holdout.
  """
  data_dir = default_data_dir(data_dir)
  b = builder(dataset, data_dir)
  label = b.info.features["label"]
  shape = (STREAMED_SHAPE if is_streamed(dataset, data_dir)
           else tuple(b.info.features["image"].shape))
  if len(shape) == 2:
    shape = shape + (1,)
  mean, std = _stats(dataset, data_dir)
  num_train = int(b.info.splits["train"].num_examples)
  if train_size is not None or holdout_size:
    if is_streamed(dataset, data_dir):
      raise ValueError(f"train_size/holdout_size need a dataset held in memory; {dataset} is "
                       f"streamed")
    labels = load_split_arrays(dataset, "train", data_dir)["label"]
    train, _ = subset_indices(labels, train_size=train_size, holdout_size=holdout_size,
                              num_classes=int(label.num_classes))
    num_train = len(train)
  return DatasetInfo(
      name=dataset,
      num_classes=int(label.num_classes),
      image_shape=tuple(int(d) for d in shape),
      num_train=num_train,
      num_eval=int(b.info.splits[split_name(b, "test")].num_examples),
      mean=mean,
      std=std,
      class_names=tuple(label.names),
      num_holdout=int(holdout_size),
  )
