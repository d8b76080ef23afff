"""Host-side input pipeline on grain: prepared TFDS data -> numpy uint8 batches, no TensorFlow.

A batch goes: `train_batches` (this file, raw uint8 pixels) -> `train/step.py:train_step` (normalizes
with `DatasetInfo.mean`/`std`, on device) -> `jaxmix.mix` -> optax update. Which datasets exist and
their `DatasetInfo` are in `registry.py` (re-exported here); the crop + flip in `crops.py`.

The train pipeline is a `grain.MapDataset`:

    range(N).shuffle(s).repeat()     example order: epoch e is grain's permutation for (s + e)
      .batch(B / P).slice(p::P)      this process's rows [p*B/P, (p+1)*B/P) of global batch k
      .map(gather)                   one vectorized read of those rows from the source
      .map_with_index(crop_and_flip) pad-4 crop + flip, drawn for the whole global batch k

with s derived from the run's seed, B the global batch size and P processes. Indices, not images,
are shuffled and batched because grain batches element by element, and one fancy-index gather per
batch is about 2.5x faster than reading images one by one. So batch k is a pure function of (seed, k), whatever the process
count: P processes together yield exactly the global batch one process yields. Datasets of fixed
image size are held in memory (CIFAR-10 train is 150 MB); images of varying size (ImageNet) are
read from the array_record data source and resized per example.

The iterator is a `grain.DatasetIterator`: `get_state()` is `{"next_index": k}`, and
`set_state` repositions it bitwise. In an orbax checkpoint, next to the train state:

    import grain, orbax.checkpoint as ocp
    manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=grain.checkpoint.CheckpointSave(train_iter)))
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state),
        data=grain.checkpoint.CheckpointRestore(train_iter)))   # repositions train_iter in place
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import grain
import numpy as np

from experiments.data import registry
# Re-exported: the pipeline's crop + flip and random streams, where callers always found them.
from experiments.data.crops import (  # pylint: disable=unused-import
    _AUG_STREAM, _rng, _resize_crop, augment_draws, crop_and_flip, sample_crop_and_flip,
    shuffle_seed)
from experiments.data.registry import DATASETS  # pylint: disable=unused-import
from experiments.data.registry import DatasetInfo  # pylint: disable=unused-import
from experiments.data.registry import default_data_dir  # pylint: disable=unused-import
from experiments.data.registry import get_info  # pylint: disable=unused-import
from experiments.data.registry import load_split_arrays  # pylint: disable=unused-import
from experiments.data.registry import prepare  # pylint: disable=unused-import
from experiments.data.registry import shared_data_dir  # pylint: disable=unused-import

# --------------------------------------------------------------------------------------------
# Sources: random access to the rows of a split, read a whole batch at a time.


class _ArrayRows:
  """A split held in memory; `rows` picks (and orders) the examples used."""

  def __init__(self, arrays: dict[str, np.ndarray], rows: np.ndarray | None = None):
    self.arrays, self.rows = arrays, rows

  def __len__(self) -> int:
    return len(self.arrays["label"]) if self.rows is None else len(self.rows)

  def read(self, positions: np.ndarray, keys=("image", "label"), rngs=None) -> dict:
    del rngs  # Augmented after the read, for the whole batch at once.
    index = positions if self.rows is None else self.rows[positions]
    return {k: self.arrays[k][index] for k in (self.arrays if keys is None else keys)}


class _StreamedRows:
  """A split of varying-size images read from the array_record data source, resized per example."""

  def __init__(self, data_source, image_shape):
    self.source, self.image_shape = data_source, image_shape

  def __len__(self) -> int:
    return len(self.source)

  def read(self, positions: np.ndarray, keys=("image", "label"), rngs=None) -> dict:
    del keys
    examples = self.source.__getitems__([int(i) for i in positions])
    rngs = rngs or [None] * len(examples)
    return {"image": np.stack([_resize_crop(e["image"], self.image_shape, r)
                               for e, r in zip(examples, rngs)]),
            "label": np.array([e["label"] for e in examples], np.int32)}


def _rows(dataset: str, split: str, data_dir: str, *, train_size=None, holdout_size: int = 0):
  """The source of `split` ("train", "test", ..., or "holdout" of the train split)."""
  if registry.is_streamed(dataset, data_dir):
    if train_size is not None or holdout_size or split == "holdout":
      raise ValueError(f"train_size/holdout_size/split='holdout' need a dataset held in memory; "
                       f"{dataset} is streamed")
    b = registry.builder(dataset, data_dir)
    return _StreamedRows(b.as_data_source()[registry.split_name(b, split)],
                         registry.STREAMED_SHAPE)
  if split == "holdout" and holdout_size <= 0:
    raise ValueError(f"split='holdout' needs holdout_size > 0, got {holdout_size}")
  arrays = load_split_arrays(dataset, "train" if split == "holdout" else split, data_dir)
  if split not in ("train", "holdout") or (train_size is None and not holdout_size):
    return _ArrayRows(arrays)
  train, holdout = registry.subset_indices(
      arrays["label"], train_size=train_size, holdout_size=holdout_size,
      num_classes=get_info(dataset, data_dir).num_classes)
  return _ArrayRows(arrays, holdout if split == "holdout" else train)


def _local_size(batch_size: int, process_index: int, process_count: int) -> int:
  if process_count < 1 or not 0 <= process_index < process_count:
    raise ValueError(f"process_index must be in [0, process_count), got {process_index} of "
                     f"{process_count}")
  if batch_size < 1 or batch_size % process_count:
    raise ValueError(f"batch_size must be a positive multiple of process_count="
                     f"{process_count}, got {batch_size}")
  return batch_size // process_count


# --------------------------------------------------------------------------------------------
# Iterators.


def train_batches(dataset: str, *, batch_size: int, seed: int, data_dir=None, start_step: int = 0,
                  augment: bool = True, process_index: int = 0, process_count: int = 1,
                  train_size: int | None = None, holdout_size: int = 0, prefetch: int = 4,
                  num_threads: int = 1, extra_features: tuple[str, ...] = ()
                  ) -> grain.DatasetIterator:
  """Infinite shuffled train batches; batch k is a function of (seed, k) only.

  Args:
    dataset: a dataset name (see `registry`).
    batch_size: the GLOBAL batch size; each process gets `batch_size // process_count` examples.
    seed: shuffling and augmentation seed.
    data_dir: prepared-data folder (see `default_data_dir`).
    start_step: the first batch yielded; the iterator is the one an uninterrupted run has after
      `start_step` batches (bitwise), and `get_state()` is `{"next_index": start_step}`.
    augment: pad-4 random crop (zero padding) + random horizontal flip, drawn for the global
      batch from (seed, k) by `augment_draws`, so that it does not depend on the process count.
    process_index, process_count: this process's slice of every global batch.
    train_size, holdout_size: train on a class-balanced subset of `train_size` examples, none of
      the `holdout_size` held out (see `registry.subset_indices`; the same for every seed).
    prefetch: batches prepared ahead by grain's read threads (0: none).
    num_threads: grain read threads.
    extra_features: more features of the dataset to yield, e.g. ("object_mask",) for shapes
      (segmentation); per-pixel ones ([b, H, W, ...]) get the images' crop and flip, others
      (e.g. "box") are yielded as stored.

  Returns:
    A `grain.DatasetIterator` of {"image": uint8 [b, H, W, C], "label": int32 [b]} (plus the
    `extra_features`), b = batch_size // process_count.
  """
  local = _local_size(batch_size, process_index, process_count)
  if start_step < 0:
    raise ValueError(f"start_step must be >= 0, got {start_step}")
  data_dir = default_data_dir(data_dir)
  source = _rows(dataset, "train", data_dir, train_size=train_size, holdout_size=holdout_size)
  if len(source) == 0:
    raise ValueError(f"the train split of {dataset} is empty")
  streamed = isinstance(source, _StreamedRows)
  if streamed and extra_features:
    raise ValueError(f"extra_features need a dataset held in memory; {dataset} is streamed")
  missing = [k for k in extra_features if not streamed and k not in source.arrays]
  if missing:
    raise ValueError(f"extra_features {missing} are not features of {dataset}; it has "
                     f"{sorted(source.arrays)}")
  keys = ("image", "label", *extra_features)
  first = process_index * local  # This process's first row in every global batch.

  def read(step: int, positions: np.ndarray) -> dict:
    if streamed:  # Crop while resizing: one generator per global example position.
      rngs = ([_rng(seed, _AUG_STREAM, step, j) for j in range(first, first + local)]
              if augment else None)
      return source.read(positions, rngs=rngs)
    batch = source.read(positions, keys=keys)
    if augment:
      offsets, flips = augment_draws(seed, step, batch_size)
      offsets, flips = offsets[first:first + local], flips[first:first + local]
      size = batch["image"].shape[1:3]
      for k, v in batch.items():   # The same window for the images and per-pixel features.
        if v.ndim >= 3 and v.shape[1:3] == size:
          cropped = crop_and_flip(v.reshape(v.shape[:3] + (-1,)), offsets, flips)
          batch[k] = cropped.reshape(v.shape)
    return batch

  ds = (grain.MapDataset.range(len(source)).shuffle(seed=shuffle_seed(seed)).repeat()
        .batch(local, drop_remainder=True, batch_fn=np.asarray)
        .slice(slice(process_index, None, process_count))
        .map_with_index(read))
  options = grain.ReadOptions(num_threads=num_threads if prefetch else 0,
                              prefetch_buffer_size=prefetch)
  iterator = iter(ds.to_iter_dataset(options))
  if start_step:
    iterator.set_state({"next_index": int(start_step)})
  return iterator


def eval_batches(dataset: str, *, batch_size: int, split: str = "test", data_dir=None,
                 process_index: int = 0, process_count: int = 1, holdout_size: int = 0,
                 prefetch: int = 2) -> grain.DatasetIterator:
  """Finite, in-order eval batches, each padded (once, here) to the full batch size.

  Every process yields the same number of batches, ceil(N / batch_size); process p gets slice p of
  each global batch. Padding rows are zeros with `mask` False.

  Args:
    split: a split of the dataset, or "holdout" (the train examples that `train_batches` with
      the same `holdout_size` never yields).

  Returns:
    A `grain.DatasetIterator` of {"image": uint8 [b, H, W, C], "label": int32 [b], "mask": bool
    [b]} plus every other feature of the dataset: for "shapes", "box" int32 [b, 4] (y1, x1, y2,
    x2) and "object_mask" uint8 [b, H, W].
  """
  local = _local_size(batch_size, process_index, process_count)
  source = _rows(dataset, split, default_data_dir(data_dir), holdout_size=holdout_size)
  n = len(source)

  def read(positions: np.ndarray) -> dict:
    mask = positions < n
    batch = source.read(positions[mask], keys=None)  # Every feature.
    pad = int((~mask).sum())
    if pad:
      batch = {k: np.concatenate([v, np.zeros((pad,) + v.shape[1:], v.dtype)])
               for k, v in batch.items()}
    batch["mask"] = mask
    return batch

  ds = (grain.MapDataset.range(math.ceil(n / batch_size) * batch_size)
        .batch(local, batch_fn=np.asarray)
        .slice(slice(process_index, None, process_count))
        .map(read))
  options = grain.ReadOptions(num_threads=1 if prefetch else 0, prefetch_buffer_size=prefetch)
  return iter(ds.to_iter_dataset(options))


# --------------------------------------------------------------------------------------------
# Benchmark.


def benchmark(dataset: str = "shapes", *, batch_size: int = 128, steps: int = 300,
              augment: bool = True, prefetch: int = 4, num_threads: int = 1,
              data_dir=None) -> float:
  """Returns the train pipeline's throughput in images/s (after one warm-up batch)."""
  it = train_batches(dataset, batch_size=batch_size, seed=0, data_dir=data_dir, augment=augment,
                     prefetch=prefetch, num_threads=num_threads)
  next(it)
  start = time.perf_counter()
  for _ in range(steps):
    next(it)
  return steps * batch_size / (time.perf_counter() - start)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--dataset", default="shapes")
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--steps", type=int, default=300)
  parser.add_argument("--bench", action="store_true", help="measure train pipeline images/s")
  args = parser.parse_args(argv)
  logging.getLogger("absl").setLevel(logging.ERROR)
  start = time.perf_counter()
  try:
    info = get_info(args.dataset, args.data_dir)
  except (ValueError, FileNotFoundError) as e:
    parser.exit(2, f"error: {e}\n")
  print(f"{info}\n(ready in {time.perf_counter() - start:.1f} s)")
  if args.bench:
    for augment in (False, True):
      for prefetch, threads in ((0, 0), (4, 1), (4, 2)):
        rate = benchmark(args.dataset, batch_size=args.batch_size, steps=args.steps,
                         augment=augment, prefetch=prefetch, num_threads=threads,
                         data_dir=args.data_dir)
        print(f"{args.dataset} batch {args.batch_size} augment={augment} prefetch={prefetch} "
              f"threads={threads}: {rate:,.0f} images/s")


if __name__ == "__main__":
  main()
