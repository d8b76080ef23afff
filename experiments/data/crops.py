"""The train pipeline's random streams and its crop + flip, on the host in NumPy.

Every draw is a function of (run seed, stream, step[, example]) only, so batch k of a run is the
same whatever the process count, and a resumed run draws what an uninterrupted one would.
"""

import numpy as np

# Independent random streams of one run seed.
_SHUFFLE_STREAM, _AUG_STREAM = 0, 1


def _rng(seed: int, stream: int, *counters: int) -> np.random.Generator:
  return np.random.default_rng([int(seed) % (1 << 63), stream, *(int(c) for c in counters)])


def shuffle_seed(seed: int) -> int:
  """grain's shuffle seed for a run seed: hashed, because grain shuffles epoch e with seed + e,
  which would make run seed 1's first epoch run seed 0's second."""
  return int(_rng(seed, _SHUFFLE_STREAM).integers(1 << 32))


def augment_draws(seed: int, step: int, batch_size: int, pad: int = 4):
  """The crop offsets int [B, 2] and flips bool [B] of global batch `step` (B = global size)."""
  return sample_crop_and_flip(_rng(seed, _AUG_STREAM, step), batch_size, pad=pad)


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


def _resize_crop(image: np.ndarray, shape, rng) -> np.ndarray:
  """Resizes the shorter side to 256/224 of `shape`, then a random (`rng`) or centre crop.

  With an `rng`, also a random horizontal flip (the usual ImageNet train recipe, minus scale
  jitter). Decoding and resizing use Pillow.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  h, w, c = shape
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
