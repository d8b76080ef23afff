"""Host-side input pipeline: prepared TFDS array_record data -> numpy uint8 batches, no TensorFlow.

A batch goes: `train_batches` (this file) -> `train.py:train_step` (normalize with the `mean`/`std`
of `get_info`, on device) -> `jaxmix.mix` -> optax update.

* Data is prepared once into `data_dir` (default `$JAXMIX_DATA_DIR`, else `~/tensorflow_datasets`)
  as TFDS array_record datasets and read back with `builder.as_data_source()`, which decodes in
  numpy (and Pillow for TFDS `Image` features): TensorFlow is never imported. The embedded
  `shapes` dataset prepares itself on first use; `cifar10_jpeg` and `fashion_mnist_idx` prepare
  themselves from `../shared/data` (or `$JAXMIX_SHARED_DATA`) when found there.
* Fixed-size datasets are held in memory as whole uint8 arrays (CIFAR-10 train is 150 MB), so a
  batch is a single fancy-index gather; `imagenet2012` streams records from the data source.
* Determinism: the example order of epoch `e` is a permutation drawn from (seed, e) and the
  global batch of step `s` is examples [s*B, (s+1)*B) of the concatenated epochs, its augmentation
  drawn from (seed, s). So a batch depends only on (seed, step): an iterator started at
  `start_step=s` yields exactly the batches an uninterrupted one yields from step s on, and every
  process draws the same global batch and keeps its own slice, whatever the process count.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import math
import os
import pathlib
import queue
import threading
import time
from typing import Any, Callable, Iterator

import numpy as np

DATASETS: tuple[str, ...] = (
    "shapes", "cifar10_jpeg", "fashion_mnist_idx",
    "cifar10", "cifar100", "fashion_mnist", "mnist", "imagenet2012",
)
# Datasets built by `experiments.datasets` (prepared offline, from ../shared/data or generated).
_LOCAL = ("shapes", "cifar10_jpeg", "fashion_mnist_idx")
# Datasets read through the TFDS catalogue, prepared elsewhere (they need a download).
_TFDS = ("cifar10", "cifar100", "fashion_mnist", "mnist", "imagenet2012")
# Datasets with images of varying size, streamed and resized to this shape instead of held in memory.
_STREAMED = {"imagenet2012": (224, 224, 3)}
# Published statistics for datasets too large to scan (0..255 units).
_KNOWN_STATS = {"imagenet2012": ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))}
_SHARED_FILES = {"cifar10_jpeg": "cifar10-jpeg.tar.gz", "fashion_mnist_idx": "fashion-mnist"}
_STATS_FILE = "jaxmix_stats.json"
_REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# Random streams of one seed: epoch permutations and per-step augmentation.
_PERM_STREAM, _AUG_STREAM = 0, 1


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What the trainer needs to know about a dataset. `mean`/`std` are per channel, 0..255 units."""
  name: str
  num_classes: int
  image_shape: tuple  # (H, W, C)
  num_train: int
  num_eval: int
  mean: tuple
  std: tuple
  class_names: tuple


# --------------------------------------------------------------------------------------------
# Locating and preparing data.


def default_data_dir(data_dir: str | os.PathLike | None = None) -> str:
  """`data_dir`, else `$JAXMIX_DATA_DIR`, else `~/tensorflow_datasets` (user expanded)."""
  if data_dir is None:
    data_dir = os.environ.get("JAXMIX_DATA_DIR") or "~/tensorflow_datasets"
  return os.path.abspath(os.path.expanduser(os.fspath(data_dir)))


def shared_data_dir() -> pathlib.Path:
  """Folder of the offline real datasets: `$JAXMIX_SHARED_DATA`, else `<repo>/../shared/data`."""
  env = os.environ.get("JAXMIX_SHARED_DATA")
  return pathlib.Path(env) if env else _REPO_ROOT.parent / "shared" / "data"


def _check_name(dataset: str) -> None:
  if dataset not in DATASETS:
    raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")


def _local_builder(dataset: str, data_dir: str, source=None):
  from experiments import datasets  # pylint: disable=g-import-not-at-top
  if dataset == "shapes":
    return datasets.JaxmixShapes(data_dir=data_dir)
  if dataset == "cifar10_jpeg":
    return datasets.Cifar10Jpeg(data_dir=data_dir, source=source)
  if dataset == "fashion_mnist_idx":
    return datasets.FashionMnistIdx(data_dir=data_dir, source=source)
  raise ValueError(f"dataset must be one of {_LOCAL}, got {dataset!r}")


def prepare(dataset: str, data_dir: str | None = None, source: str | os.PathLike | None = None):
  """Prepares a local dataset (no-op when prepared) and returns its TFDS builder.

  Args:
    dataset: one of "shapes", "cifar10_jpeg", "fashion_mnist_idx".
    data_dir: where prepared datasets live (see `default_data_dir`).
    source: the archive / folder to prepare from; default: the file in `shared_data_dir()`.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from experiments import datasets  # pylint: disable=g-import-not-at-top
  _check_name(dataset)
  if dataset not in _LOCAL:
    raise ValueError(f"{dataset!r} is a TFDS catalogue dataset and needs a download; prepare it "
                     f"with `tfds build {dataset} --file_format=array_record` where TensorFlow "
                     f"and internet are available, then copy it to the data_dir")
  data_dir = default_data_dir(data_dir)
  if dataset in _SHARED_FILES and source is None:
    source = shared_data_dir() / _SHARED_FILES[dataset]
    if not _local_builder(dataset, data_dir).is_prepared() and not source.exists():
      raise FileNotFoundError(
          f"{dataset} is not prepared in {data_dir} and its source {source} was not found. Set "
          f"JAXMIX_SHARED_DATA to the folder holding {_SHARED_FILES[dataset]}, or run `python -m "
          f"experiments.prepare_data --dataset {dataset} --source PATH --data_dir {data_dir}`")
  tfds.disable_progress_bar()
  return datasets.prepare(_local_builder(dataset, data_dir, source))


def _tfds_builder(dataset: str, data_dir: str):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder = tfds.builder(dataset, data_dir=data_dir)
  if not builder.is_prepared():
    raise FileNotFoundError(
        f"TFDS dataset {dataset!r} is not prepared in {data_dir}. It needs a download (no internet "
        f"here): on a machine with TensorFlow and internet run `tfds build {dataset} "
        f"--file_format=array_record --data_dir DIR` (ImageNet also needs the manual download), "
        f"then copy DIR/{dataset} into {data_dir} or point JAXMIX_DATA_DIR at DIR.")
  if str(builder.info.file_format) not in ("array_record", "FileFormat.ARRAY_RECORD"):
    raise ValueError(
        f"{dataset} in {data_dir} is prepared as {builder.info.file_format}; reading without "
        f"TensorFlow needs array_record: rebuild with `tfds build {dataset} "
        f"--file_format=array_record` (or `tfds convert_format`).")
  return builder


@functools.lru_cache(maxsize=None)
def _builder(dataset: str, data_dir: str):
  _check_name(dataset)
  if dataset in _LOCAL:
    return prepare(dataset, data_dir)
  return _tfds_builder(dataset, data_dir)


def _eval_split(builder, split: str) -> str:
  splits = builder.info.splits
  if split == "test" and "test" not in splits and "validation" in splits:
    return "validation"  # ImageNet has no labelled test split.
  if split not in splits:
    raise ValueError(f"split must be one of {sorted(splits)}, got {split!r}")
  return split


# --------------------------------------------------------------------------------------------
# Reading.

_ARRAY_KEYS = ("image", "label", "box", "object_mask")


@functools.lru_cache(maxsize=8)
def _load(dataset: str, split: str, data_dir: str) -> dict[str, np.ndarray]:
  builder = _builder(dataset, data_dir)
  split = _eval_split(builder, split)
  source = builder.as_data_source()[split]
  keys = [k for k in _ARRAY_KEYS if k in builder.info.features]
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
      arrays[k] = np.zeros((0,) + tuple(builder.info.features[k].shape), np.uint8)
  if arrays["image"].ndim == 3:
    arrays["image"] = arrays["image"][..., None]
  arrays["label"] = arrays["label"].astype(np.int32)
  if "box" in arrays:
    arrays["box"] = arrays["box"].astype(np.int32)
  for v in arrays.values():
    v.setflags(write=False)  # Shared by every caller through the cache.
  return arrays


def load_split_arrays(dataset: str, split: str, data_dir=None) -> dict[str, np.ndarray]:
  """The whole split in memory: "image" uint8 [N, H, W, C], "label" int32 [N].

  For "shapes" also "box" int32 [N, 4] (y1, x1, y2, x2; y2/x2 exclusive) and "object_mask"
  uint8 [N, H, W]. The arrays are cached and read-only; copy before modifying. Examples are in
  the stored order (deterministic).
  """
  _check_name(dataset)
  if dataset in _STREAMED:
    raise ValueError(f"{dataset} has images of varying size and is too large to load whole; "
                     f"use train_batches / eval_batches")
  return _load(dataset, split, default_data_dir(data_dir))


def _stats(dataset: str, data_dir: str) -> tuple[tuple, tuple]:
  """Per-channel mean and std of the train images, cached in the prepared dataset's folder."""
  if dataset in _KNOWN_STATS:
    return _KNOWN_STATS[dataset]
  builder = _builder(dataset, data_dir)
  path = pathlib.Path(builder.data_dir) / _STATS_FILE
  try:
    stats = json.loads(path.read_text())
    return tuple(stats["mean"]), tuple(stats["std"])
  except (OSError, ValueError, KeyError):
    pass
  images = load_split_arrays(dataset, "train", data_dir)["image"]
  c = images.shape[-1]
  flat = images.reshape(-1, c)
  # Sum in chunks with float64 accumulators: exact enough and bounded memory.
  total = np.zeros(c)
  total_sq = np.zeros(c)
  for start in range(0, len(flat), 1 << 22):
    part = flat[start:start + (1 << 22)].astype(np.float64)
    total += part.sum(0)
    total_sq += np.square(part).sum(0)
  mean = total / max(len(flat), 1)
  std = np.sqrt(np.maximum(total_sq / max(len(flat), 1) - mean ** 2, 0.0))
  mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
  try:
    path.write_text(json.dumps({"mean": mean, "std": std}))
  except OSError:
    pass  # A read-only data_dir only costs recomputing.
  return mean, std


def get_info(dataset: str, data_dir: str | None = None) -> DatasetInfo:
  """Returns the `DatasetInfo` of `dataset`, preparing local datasets on first use."""
  _check_name(dataset)
  data_dir = default_data_dir(data_dir)
  builder = _builder(dataset, data_dir)
  label = builder.info.features["label"]
  shape = _STREAMED.get(dataset) or tuple(builder.info.features["image"].shape)
  if len(shape) == 2:
    shape = shape + (1,)
  mean, std = _stats(dataset, data_dir)
  splits = builder.info.splits
  return DatasetInfo(
      name=dataset,
      num_classes=int(label.num_classes),
      image_shape=tuple(int(d) for d in shape),
      num_train=int(splits["train"].num_examples),
      num_eval=int(splits[_eval_split(builder, "test")].num_examples),
      mean=mean,
      std=std,
      class_names=tuple(label.names),
  )


class _ArraySource:
  """Random access to a split held in memory."""

  def __init__(self, arrays: dict[str, np.ndarray]):
    self.arrays = arrays

  def __len__(self) -> int:
    return len(self.arrays["label"])

  def get(self, indices: np.ndarray, keys=("image", "label"), rngs=None) -> dict[str, np.ndarray]:
    del rngs
    return {k: self.arrays[k][indices] for k in keys if k in self.arrays}


class _ResizingSource:
  """Random access to a split of varying-size images, streamed from the data source.

  Train: resize the shorter side to 256/224 of the output, random crop, random flip (when given
  one rng per example); eval: the same resize and a centre crop. Decoding and resizing use Pillow.
  """

  def __init__(self, data_source, image_shape: tuple[int, int, int]):
    self.source = data_source
    self.image_shape = image_shape

  def __len__(self) -> int:
    return len(self.source)

  def _resize_crop(self, image: np.ndarray, rng) -> np.ndarray:
    from PIL import Image  # pylint: disable=g-import-not-at-top
    h, w, c = self.image_shape
    image = np.asarray(image)
    if image.ndim == 2 or image.shape[-1] == 1:
      image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=-1)
    scale = (256 / 224) * max(h, w) / min(image.shape[:2])
    size = (max(w, round(image.shape[1] * scale)), max(h, round(image.shape[0] * scale)))
    resized = np.asarray(Image.fromarray(image[..., :c]).resize(size, Image.BILINEAR))
    if rng is None:
      y, x = (resized.shape[0] - h) // 2, (resized.shape[1] - w) // 2
      return resized[y:y + h, x:x + w]
    y = int(rng.integers(0, resized.shape[0] - h + 1))
    x = int(rng.integers(0, resized.shape[1] - w + 1))
    out = resized[y:y + h, x:x + w]
    return out[:, ::-1] if rng.random() < 0.5 else out

  def get(self, indices: np.ndarray, keys=("image", "label"), rngs=None) -> dict[str, np.ndarray]:
    del keys
    examples = self.source.__getitems__([int(i) for i in indices])
    rngs = rngs or [None] * len(examples)
    return {"image": np.stack([self._resize_crop(e["image"], r) for e, r in zip(examples, rngs)]),
            "label": np.array([e["label"] for e in examples], np.int32)}


def _source(dataset: str, split: str, data_dir: str):
  if dataset in _STREAMED:
    builder = _builder(dataset, data_dir)
    return _ResizingSource(builder.as_data_source()[_eval_split(builder, split)],
                           _STREAMED[dataset])
  return _ArraySource(load_split_arrays(dataset, split, data_dir))


# --------------------------------------------------------------------------------------------
# Augmentation.


def crop_and_flip(images: np.ndarray, offsets: np.ndarray, flips: np.ndarray, *, pad: int = 4,
                  padding: str = "zeros") -> np.ndarray:
  """Crops each image from its padded copy at `offsets`, then mirrors those with `flips`.

  Equivalent to `np.pad` by `pad` pixels on each side, taking the window
  `padded[i, oy:oy + H, ox:ox + W]`, and reversing its columns where `flips[i]`; done as a single
  gather for the whole batch. The dtype is kept (uint8 stays uint8).

  Args:
    images: [B, H, W, C].
    offsets: int [B, 2], (oy, ox) in [0, 2 * pad].
    flips: bool [B].
    pad: padding on each side.
    padding: "zeros" or "reflect".

  Returns:
    [B, H, W, C], the augmented images.
  """
  if images.ndim != 4:
    raise ValueError(f"images must have rank 4 (B, H, W, C), got shape {images.shape}")
  if padding not in ("zeros", "reflect"):
    raise ValueError(f"padding must be 'zeros' or 'reflect', got {padding!r}")
  b, h, w, _ = images.shape
  mode = "constant" if padding == "zeros" else "reflect"
  padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode=mode)
  offsets = np.asarray(offsets)
  # A view of every window as [B, 2*pad+1, 2*pad+1, H, W, C]: picking one per image copies whole
  # contiguous pixel rows, 4x faster than a per-pixel fancy-index gather.
  windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(1, 2))
  crops = windows.transpose(0, 1, 2, 4, 5, 3)[np.arange(b), offsets[:, 0], offsets[:, 1]]
  flips = np.asarray(flips, bool)
  crops[flips] = crops[flips, :, ::-1]
  return crops


def sample_crop_and_flip(rng: np.random.Generator, batch: int, pad: int = 4):
  """Draws (offsets int [B, 2] in [0, 2*pad], flips bool [B]) for `crop_and_flip`."""
  offsets = rng.integers(0, 2 * pad + 1, size=(batch, 2))
  flips = rng.random(batch) < 0.5
  return offsets, flips


# --------------------------------------------------------------------------------------------
# Iterators.


def _rng(seed: int, stream: int, *counters: int) -> np.random.Generator:
  return np.random.default_rng([int(seed) % (1 << 63), stream, *(int(c) for c in counters)])


class _EpochOrder:
  """Index of the global batch at a step: examples [s*B, (s+1)*B) of concatenated epochs."""

  def __init__(self, n: int, seed: int):
    self.n, self.seed = n, seed
    self._cache: dict[int, np.ndarray] = {}

  def permutation(self, epoch: int) -> np.ndarray:
    if epoch not in self._cache:
      if len(self._cache) >= 2:
        self._cache.pop(min(self._cache))
      self._cache[epoch] = _rng(self.seed, _PERM_STREAM, epoch).permutation(self.n)
    return self._cache[epoch]

  def batch(self, step: int, batch_size: int) -> np.ndarray:
    start, end = step * batch_size, (step + 1) * batch_size
    parts = []
    for epoch in range(start // self.n, (end - 1) // self.n + 1):
      lo, hi = max(start - epoch * self.n, 0), min(end - epoch * self.n, self.n)
      parts.append(self.permutation(epoch)[lo:hi])
    return np.concatenate(parts)


def _local_slice(batch_size: int, process_index: int, process_count: int) -> slice:
  if process_count < 1 or not 0 <= process_index < process_count:
    raise ValueError(f"process_index must be in [0, process_count), got {process_index} of "
                     f"{process_count}")
  if batch_size < 1 or batch_size % process_count:
    raise ValueError(f"batch_size must be a positive multiple of process_count="
                     f"{process_count}, got {batch_size}")
  local = batch_size // process_count
  return slice(process_index * local, (process_index + 1) * local)


def _prefetch(make: Callable[[], Iterator[Any]], size: int) -> Iterator[Any]:
  """Runs the iterator `make()` in a background thread, `size` items ahead of the consumer."""
  if size <= 0:
    yield from make()
    return
  q: queue.Queue = queue.Queue(maxsize=size)
  stop = threading.Event()
  done = object()

  def worker():
    try:
      for item in make():
        while not stop.is_set():
          try:
            q.put(item, timeout=0.1)
            break
          except queue.Full:
            continue
        if stop.is_set():
          return
      q.put(done)
    except BaseException as e:  # pylint: disable=broad-except
      q.put(e)  # Re-raised in the consumer.

  thread = threading.Thread(target=worker, daemon=True, name="input_pipeline_prefetch")
  thread.start()
  try:
    while True:
      item = q.get()
      if item is done:
        return
      if isinstance(item, BaseException):
        raise item
      yield item
  finally:
    stop.set()  # The consumer closed the generator (or it was garbage collected).


def train_batches(dataset: str, *, batch_size: int, seed: int, data_dir=None, start_step: int = 0,
                  augment: bool = True, process_index: int = 0, process_count: int = 1,
                  prefetch: int = 2) -> Iterator[dict]:
  """Infinite shuffled train batches, a function of (seed, step) only.

  Args:
    dataset: a name in `DATASETS`.
    batch_size: the GLOBAL batch size; each process gets `batch_size // process_count` examples.
    seed: shuffling and augmentation seed.
    data_dir: prepared-data folder (see `default_data_dir`).
    start_step: the first step yielded; a run resumed at step s sees exactly the batches an
      uninterrupted run sees from step s on (bitwise).
    augment: pad-4 random crop (zero padding) + random horizontal flip, sampled for the global
      batch so that it does not depend on the process count.
    process_index, process_count: this process's slice of every global batch.
    prefetch: batches prepared ahead in a background thread (0: none).

  Yields:
    {"image": uint8 [b, H, W, C], "label": int32 [b]}, b = batch_size // process_count.
  """
  _check_name(dataset)
  local = _local_slice(batch_size, process_index, process_count)
  if start_step < 0:
    raise ValueError(f"start_step must be >= 0, got {start_step}")
  source = _source(dataset, "train", default_data_dir(data_dir))
  if len(source) == 0:
    raise ValueError(f"the train split of {dataset} is empty")
  order = _EpochOrder(len(source), seed)
  streamed = dataset in _STREAMED

  def generate():
    step = start_step
    while True:
      indices = order.batch(step, batch_size)
      if streamed:
        # Random crop/flip while resizing, one generator per global batch position so that the
        # draws do not depend on the process count.
        rngs = [_rng(seed, _AUG_STREAM, step, j) for j in range(local.start, local.stop)]
        batch = source.get(indices[local], rngs=rngs if augment else None)
      else:
        batch = source.get(indices[local])
        if augment:
          offsets, flips = sample_crop_and_flip(_rng(seed, _AUG_STREAM, step), batch_size)
          batch["image"] = crop_and_flip(batch["image"], offsets[local], flips[local])
      yield batch
      step += 1

  return _prefetch(generate, prefetch)


def eval_batches(dataset: str, *, batch_size: int, split: str = "test", data_dir=None,
                 process_index: int = 0, process_count: int = 1) -> Iterator[dict]:
  """Finite, in-order eval batches; the last is padded to full size.

  Every process yields the same number of batches, ceil(N / batch_size); process p gets slice p of
  each global batch. Padding examples are zeros with `mask` False.

  Yields:
    {"image": uint8 [b, H, W, C], "label": int32 [b], "mask": bool [b]}; for "shapes" also
    "box": int32 [b, 4] (y1, x1, y2, x2) and "object_mask": uint8 [b, H, W].
  """
  _check_name(dataset)
  local = _local_slice(batch_size, process_index, process_count)
  source = _source(dataset, split, default_data_dir(data_dir))
  keys = _ARRAY_KEYS if isinstance(source, _ArraySource) else ("image", "label")
  n = len(source)

  def generate():
    for k in range(math.ceil(n / batch_size)):
      positions = np.arange(k * batch_size, (k + 1) * batch_size)[local]
      mask = positions < n
      batch = source.get(positions[mask], keys=keys)
      pad = int((~mask).sum())
      if pad:
        batch = {key: np.concatenate([v, np.zeros((pad,) + v.shape[1:], v.dtype)])
                 for key, v in batch.items()}
      batch["mask"] = mask
      yield batch

  return generate()


# --------------------------------------------------------------------------------------------
# Benchmark.


def benchmark(dataset: str = "shapes", *, batch_size: int = 128, steps: int = 300,
              augment: bool = True, prefetch: int = 2, data_dir=None) -> float:
  """Returns the train pipeline's throughput in images/s (after one warm-up batch)."""
  it = train_batches(dataset, batch_size=batch_size, seed=0, data_dir=data_dir, augment=augment,
                     prefetch=prefetch)
  next(it)
  start = time.perf_counter()
  for _ in range(steps):
    next(it)
  return steps * batch_size / (time.perf_counter() - start)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--dataset", default="shapes", choices=DATASETS)
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--steps", type=int, default=300)
  parser.add_argument("--bench", action="store_true", help="measure train pipeline images/s")
  args = parser.parse_args(argv)
  logging.getLogger("absl").setLevel(logging.ERROR)
  start = time.perf_counter()
  info = get_info(args.dataset, args.data_dir)
  print(f"{info}\n(ready in {time.perf_counter() - start:.1f} s)")
  if args.bench:
    for augment in (False, True):
      for prefetch in (0, 2):
        rate = benchmark(args.dataset, batch_size=args.batch_size, steps=args.steps,
                         augment=augment, prefetch=prefetch, data_dir=args.data_dir)
        print(f"{args.dataset} batch {args.batch_size} augment={augment} prefetch={prefetch}: "
              f"{rate:,.0f} images/s")


if __name__ == "__main__":
  main()
