"""Image-folder datasets (split/label/image, as a directory or a .tar[.gz]) decoded with Pillow.

`tfds.folder_dataset.ImageFolder` reads this layout but decodes with TensorFlow; these builders
decode every image once, at preparation, with Pillow, and store uint8 arrays, so that training
reads raw pixels with no decoding at all (and no TensorFlow).
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import pathlib
import tarfile
from typing import Iterator

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from experiments.datasets import _base

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
CIFAR10_CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
                       "dog", "frog", "horse", "ship", "truck")
CIFAR10_ARCHIVE = "cifar10-jpeg.tar.gz"


def _iter_files(source: pathlib.Path) -> Iterator[tuple[str, bytes]]:
  """Yields (relative path, bytes) of every image file in a directory or tar archive."""
  if source.is_dir():
    for path in sorted(source.rglob("*")):
      if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
        yield path.relative_to(source).as_posix(), path.read_bytes()
    return
  with tarfile.open(source, "r:*") as tar:
    for member in tar:
      if member.isfile() and os.path.splitext(member.name)[1].lower() in IMAGE_EXTENSIONS:
        name = member.name[2:] if member.name.startswith("./") else member.name
        yield name, tar.extractfile(member).read()


def _decode(data: bytes, mode: str) -> np.ndarray:
  with Image.open(io.BytesIO(data)) as im:
    return np.asarray(im.convert(mode))


def read_image_folder(source: str | os.PathLike, *, mode: str = "RGB",
                      class_names: tuple[str, ...] | None = None,
                      ) -> tuple[dict[str, dict[str, np.ndarray]], tuple[str, ...]]:
  """Reads and decodes a split/label/image folder or archive.

  Args:
    source: a directory or a .tar/.tar.gz archive with files `<split>/<class>/<name>.<ext>`.
    mode: Pillow mode every image is converted to ("RGB" or "L").
    class_names: the label order; default: sorted class folder names over all splits.

  Returns:
    ({split: {"image": uint8 [N, H, W, C], "label": int64 [N]}}, class_names). Within a split,
    examples are sorted by (class, file name), so the result does not depend on archive order.
  """
  source = pathlib.Path(source)
  if not source.exists():
    raise FileNotFoundError(f"image folder or archive not found: {source}")
  entries: dict[str, list[tuple[str, str, bytes]]] = {}
  for rel, data in _iter_files(source):
    parts = rel.split("/")
    if len(parts) != 3:
      raise ValueError(f"expected <split>/<class>/<file> in {source}, got {rel!r}")
    split, cls, name = parts
    entries.setdefault(split, []).append((cls, name, data))
  if not entries:
    raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {source}")
  if class_names is None:
    class_names = tuple(sorted({cls for items in entries.values() for cls, _, _ in items}))
  index = {name: i for i, name in enumerate(class_names)}
  out = {}
  # Pillow releases the GIL while decoding, so threads use every core.
  with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
    for split, items in sorted(entries.items()):
      items.sort(key=lambda item: (index.get(item[0], -1), item[1]))
      unknown = sorted({cls for cls, _, _ in items if cls not in index})
      if unknown:
        raise ValueError(f"classes {unknown} of split {split!r} not in class_names {class_names}")
      images = list(pool.map(lambda item: _decode(item[2], mode), items, chunksize=256))
      shapes = {im.shape for im in images}
      if len(shapes) != 1:
        raise ValueError(f"images of split {split!r} in {source} differ in size: {sorted(shapes)}")
      image = np.stack(images)
      if image.ndim == 3:
        image = image[..., None]
      out[split] = {"image": image,
                    "label": np.array([index[cls] for cls, _, _ in items], np.int64)}
  return out, class_names


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
