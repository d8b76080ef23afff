"""Reading split/class/image folders and archives into uint8 arrays, with Pillow only.

No TensorFlow or TFDS here, so hosts without them (a lent GPU machine) can read the same files
the TFDS builders in `experiments.data.datasets` prepare from.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import pathlib
import tarfile
from typing import Iterator

import numpy as np
from PIL import Image

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


def channel_stats(images: np.ndarray) -> tuple[tuple, tuple]:
  """Per-channel mean and std of uint8 images [..., C], in 0..255 units (float64 sums)."""
  flat = images.reshape(-1, images.shape[-1])
  # Sum in chunks with float64 accumulators: exact enough and bounded memory.
  total, total_sq = np.zeros(flat.shape[1]), np.zeros(flat.shape[1])
  for start in range(0, len(flat), 1 << 22):
    part = flat[start:start + (1 << 22)].astype(np.float64)
    total += part.sum(0)
    total_sq += np.square(part).sum(0)
  mean = total / max(len(flat), 1)
  std = np.sqrt(np.maximum(total_sq / max(len(flat), 1) - mean ** 2, 0.0))
  return tuple(float(m) for m in mean), tuple(float(s) for s in std)
