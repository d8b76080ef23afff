"""Procedurally generated "shapes": one object per image, with its box and mask.

The default dataset of the experiments: it needs no download, is generated in a few seconds with
vectorized numpy, and is identical for a given seed on every machine. Each 32x32 RGB image holds one
object of one of ten shape types (the class) with a random colour, position, scale and a small
rotation, drawn over a smooth random background with pixel noise, so that a small CNN learns it well
above chance but not perfectly. The colour carries no information about the class.

Every example, in every split, carries the ground-truth object box and per-pixel object mask, which
the localization and segmentation experiments use:

* ``box``: int32 ``(y1, x1, y2, x2)`` in pixels, ``y2``/``x2`` exclusive (``mask[y1:y2, x1:x2]`` is
  the tightest window that holds the whole mask).
* ``object_mask``: uint8 ``(H, W)``, 1 on the object, 0 elsewhere; never empty.
"""

from __future__ import annotations

import zlib

import numpy as np

CLASS_NAMES = (
    "disk", "square", "diamond", "triangle_up", "triangle_down",
    "ring", "plus", "cross", "frame", "crescent",
)
NUM_CLASSES = len(CLASS_NAMES)
IMAGE_SIZE = 32
SPLITS = {"train": 10_000, "test": 2_000}
DEFAULT_SEED = 0
# Different splits draw from independent streams of the same seed.
_SPLIT_STREAM = {"train": 0, "test": 1, "validation": 2}


def _shape_masks(label: int, dy: np.ndarray, dx: np.ndarray, r: np.ndarray) -> np.ndarray:
  """Boolean masks of shape type `label`, given coordinates relative to the centre and radii."""
  ay, ax = np.abs(dy), np.abs(dx)
  d2 = dy * dy + dx * dx
  r2 = r * r
  if label == 0:  # disk
    return d2 <= r2
  if label == 1:  # square
    return np.maximum(ay, ax) <= 0.8 * r
  if label == 2:  # diamond
    return ay + ax <= 1.1 * r
  if label in (3, 4):  # triangles, apex up (3) or down (4)
    t = dy if label == 3 else -dy
    return (t >= -0.9 * r) & (t <= 0.8 * r) & (ax <= 0.65 * (t + 0.9 * r))
  if label == 5:  # ring
    return (d2 <= r2) & (d2 >= (0.55 * r) ** 2)
  if label == 6:  # plus
    return ((ax <= 0.3 * r) & (ay <= r)) | ((ay <= 0.3 * r) & (ax <= r))
  if label == 7:  # cross (x)
    diag = (np.abs(dy - dx) <= 0.42 * r) | (np.abs(dy + dx) <= 0.42 * r)
    return diag & (np.maximum(ay, ax) <= 0.75 * r)
  if label == 8:  # hollow square
    m = np.maximum(ay, ax)
    return (m <= 0.85 * r) & (m >= 0.5 * r)
  if label == 9:  # crescent: a disk minus a shifted disk
    return (d2 <= r2) & ((dy * dy + (dx - 0.5 * r) ** 2) > (0.8 * r) ** 2)
  raise ValueError(f"label must be in [0, {NUM_CLASSES}), got {label}")


def _interp_matrix(out_size: int, in_size: int) -> np.ndarray:
  """Linear interpolation weights [out_size, in_size] (align-corners upsampling)."""
  pos = np.linspace(0.0, in_size - 1, out_size)
  lo = np.clip(np.floor(pos).astype(int), 0, in_size - 2)
  frac = pos - lo
  m = np.zeros((out_size, in_size), np.float32)
  m[np.arange(out_size), lo] = 1.0 - frac
  m[np.arange(out_size), lo + 1] = frac
  return m


def generate(num_examples: int, seed: int = DEFAULT_SEED, split: str = "train",
             image_size: int = IMAGE_SIZE) -> dict[str, np.ndarray]:
  """Generates `num_examples` shapes images deterministically from (`seed`, `split`).

  Args:
    num_examples: number of images.
    seed: the dataset seed; the same seed and split give bit-identical arrays.
    split: name of the split, selecting an independent random stream ("train", "test", ...).
    image_size: height and width of the square images.

  Returns:
    A dict with "image" uint8 [N, S, S, 3], "label" int64 [N] (classes balanced to within one),
    "box" int32 [N, 4] (y1, x1, y2, x2; y2/x2 exclusive) and "object_mask" uint8 [N, S, S].
  """
  if num_examples < 0:
    raise ValueError(f"num_examples must be >= 0, got {num_examples}")
  # crc32, not hash(): Python salts str hashes per process, which made other splits differ
  # from run to run.
  stream = _SPLIT_STREAM.get(split, zlib.crc32(split.encode()) + len(_SPLIT_STREAM))
  rng = np.random.default_rng([seed, stream])
  n, s = num_examples, image_size

  # Balanced labels in random order.
  labels = rng.permutation(np.arange(n) % NUM_CLASSES).astype(np.int64)

  # Object geometry: radius, centre (the object stays inside the image), small rotation.
  radius = rng.uniform(0.17 * s, 0.38 * s, size=n).astype(np.float32)
  margin = radius + 1.0
  cy = rng.uniform(margin, s - 1 - margin).astype(np.float32)
  cx = rng.uniform(margin, s - 1 - margin).astype(np.float32)
  angle = rng.uniform(-0.45, 0.45, size=n).astype(np.float32)  # about +-25 degrees
  yy, xx = np.meshgrid(np.arange(s, dtype=np.float32), np.arange(s, dtype=np.float32),
                       indexing="ij")
  ry = yy[None] - cy[:, None, None]
  rx = xx[None] - cx[:, None, None]
  cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
  dy = cos * ry - sin * rx
  dx = sin * ry + cos * rx
  masks = np.zeros((n, s, s), bool)
  for c in range(NUM_CLASSES):
    idx = np.flatnonzero(labels == c)
    if idx.size:
      masks[idx] = _shape_masks(c, dy[idx], dx[idx], radius[idx, None, None])

  # Background: a smooth random colour field (bilinear upsampling of a 4x4 grid) plus noise.
  coarse = rng.uniform(0, 255, size=(n, 4, 4, 3)).astype(np.float32)
  m = _interp_matrix(s, 4)
  background = np.einsum("yi,nijc,xj->nyxc", m, coarse, m, optimize=True)
  # Object: a random colour with some shading across the object, far enough from the local
  # background that it stays visible, but with no relation to the class.
  colour = rng.uniform(0, 255, size=(n, 1, 1, 3)).astype(np.float32)
  weights = masks[..., None] / masks.sum(axis=(1, 2))[:, None, None, None]
  bg_under = (background * weights).sum(axis=(1, 2), keepdims=True)
  too_close = np.abs(colour - bg_under).sum(-1, keepdims=True) < 120
  colour = np.where(too_close, np.where(bg_under < 128, bg_under + 100, bg_under - 100), colour)
  shade = rng.uniform(-30, 30, size=(n, 1, 1, 3)).astype(np.float32) * (dy[..., None] / s)
  foreground = colour + shade
  image = np.where(masks[..., None], foreground, background)
  image += rng.normal(0.0, 14.0, size=image.shape).astype(np.float32)
  image = np.clip(np.rint(image), 0, 255).astype(np.uint8)

  rows, cols = masks.any(axis=2), masks.any(axis=1)
  y1 = rows.argmax(axis=1)
  y2 = s - rows[:, ::-1].argmax(axis=1)
  x1 = cols.argmax(axis=1)
  x2 = s - cols[:, ::-1].argmax(axis=1)
  boxes = np.stack([y1, x1, y2, x2], axis=1).astype(np.int32)
  return {"image": image, "label": labels, "box": boxes, "object_mask": masks.astype(np.uint8)}
