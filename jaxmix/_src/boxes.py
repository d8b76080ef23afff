"""Mixing-ratio and box sampling: λ ~ Beta(α, α) and the CutMix / timm / Cutout boxes.

A box is a `Box` of int32 arrays `(y1, y2, x1, x2)`, half-open: rows `y1 <= y < y2`
and columns `x1 <= x < x2`. Scalars for one box, arrays of shape `[batch]` for
per-sample boxes; `Box` is a NamedTuple, so it is a pytree and vmaps.
"""

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import _layout
from jaxmix._src import sampling


class Box(NamedTuple):
  """A half-open box `[y1, y2) x [x1, x2)` of int32 coordinates."""
  y1: jax.Array
  y2: jax.Array
  x1: jax.Array
  x2: jax.Array


CENTRE_WORDS = 4


def centre_from_words(words: jax.Array, height: int, width: int) -> tuple[jax.Array, jax.Array]:
  """A box centre uniform over the pixels from `CENTRE_WORDS` words: cy in 0..H-1, cx in 0..W-1.

  Each coordinate reduces a 64-bit number (two words) mod its size as
  `jax.random.randint` does, so its bias is < size / 2^64.
  """
  return (sampling.below(words[..., 0], words[..., 1], height),
          sampling.below(words[..., 2], words[..., 3], width))


def sample_centre(key: jax.Array, height: int, width: int,
                  shape: Sequence[int] = (), *, offset: int = 0) -> tuple[jax.Array, jax.Array]:
  """Samples a box centre uniformly over the pixels: cy in 0..H-1, cx in 0..W-1.

  From words `offset` … `offset + 3` of each row of `random_words(key, ...)`
  (`centre_from_words`); `shape` as `jaxmix.sample_lam`.
  """
  words = sampling.sample_words(key, shape, CENTRE_WORDS, offset)
  return centre_from_words(words, height, width)


def _check_convention(convention: str) -> None:
  _checks.check_choice("box_convention", convention, _checks.BOX_CONVENTIONS)


def box_from_centre(lam: jax.Array, cy: jax.Array, cx: jax.Array,
                    height: int, width: int, *, box_convention: str = "official") -> Box:
  """The CutMix box for ratio λ centred at (cy, cx), clipped to the image.

  cut ratio r = √(1 − λ); cut_h = ⌊H·r⌋, cut_w = ⌊W·r⌋; y1 = clip(cy − cut_h // 2, 0, H)
  and, same for x,

  - "official": y2 = clip(cy + cut_h // 2, 0, H). Matches `rand_bbox` of the official
    CutMix code (clovaai/CutMix-PyTorch) and of timm before 1.0.31 (margin 0) given
    the same λ and centre; an odd cut loses a pixel (the box is cut − 1 wide).
  - "timm": y2 = clip(cy + (cut_h + 1) // 2, 0, H). Matches timm 1.0.31's `rand_bbox`:
    exactly cut_h × cut_w pixels before clipping.

  The arithmetic is float32, theirs float64: the two can differ by one pixel only
  where H·r or W·r lies within float32 rounding of an integer.

  Args:
    lam: λ in [0, 1], any shape.
    cy, cx: int32 centres, broadcastable with `lam`.
    height, width: image size (static Python ints).
    box_convention: "official" or "timm".

  Returns:
    `Box` of int32 arrays with the broadcast shape of the inputs.
  """
  _check_convention(box_convention)
  lam = jnp.clip(jnp.asarray(lam, jnp.float32), 0.0, 1.0)
  ratio = jnp.sqrt(1.0 - lam)
  cut_h = jnp.floor(height * ratio).astype(jnp.int32)
  cut_w = jnp.floor(width * ratio).astype(jnp.int32)
  after = (lambda c: c // 2) if box_convention == "official" else (lambda c: (c + 1) // 2)
  y1 = jnp.clip(cy - cut_h // 2, 0, height)
  y2 = jnp.clip(cy + after(cut_h), 0, height)
  x1 = jnp.clip(cx - cut_w // 2, 0, width)
  x2 = jnp.clip(cx + after(cut_w), 0, width)
  return Box(*(c.astype(jnp.int32) for c in (y1, y2, x1, x2)))


def sample_box(key: jax.Array, lam: jax.Array, height: int, width: int, *,
               box_convention: str = "official", offset: int = 0) -> Box:
  """Samples the CutMix box for λ: centre uniform, corners clipped (`box_from_centre`).

  Args:
    key: PRNG key.
    lam: λ in [0, 1]; a scalar gives one box, shape `[batch]` gives one per sample.
    height, width: image size.
    box_convention: "official" or "timm" (see `box_from_centre`).
    offset: the centre's first word in each row (see `sample_centre`).

  Returns:
    `Box` with the shape of `lam`; its area is about (1 − λ)·H·W before clipping.
  """
  lam = jnp.asarray(lam, jnp.float32)
  cy, cx = sample_centre(key, height, width, lam.shape, offset=offset)
  return box_from_centre(lam, cy, cx, height, width, box_convention=box_convention)


MINMAX_WORDS = 8


def box_minmax_from_words(words: jax.Array, minmax: tuple[float, float], height: int,
                          width: int, *, box_convention: str = "official") -> Box:
  """timm's `rand_bbox_minmax` box from `MINMAX_WORDS` words (two per integer draw:
  cut_h, cut_w, y1, x1); see `sample_box_minmax`."""
  lo, hi = _checks.check_minmax(minmax)
  _check_convention(box_convention)
  border = 0 if box_convention == "official" else 1
  pair = lambda i: (words[..., 2 * i], words[..., 2 * i + 1])

  def side(i, size):
    low = min(int(size * lo), size)  # timm's int(size * fraction), in float64 as there
    high = max(int(size * hi), low + 1)
    return jnp.minimum(low + sampling.below(*pair(i), high - low), size)

  cut_h, cut_w = side(0, height), side(1, width)
  y1 = sampling.below(*pair(2), jnp.maximum(height - cut_h + border, 1))
  x1 = sampling.below(*pair(3), jnp.maximum(width - cut_w + border, 1))
  return Box(y1, y1 + cut_h, x1, x1 + cut_w)


def sample_box_minmax(key: jax.Array, minmax: tuple[float, float], height: int,
                      width: int, shape: Sequence[int] = (), *,
                      box_convention: str = "official", offset: int = 0) -> Box:
  """Samples timm's `rand_bbox_minmax` box: side lengths uniform in a fraction range.

  cut_h ~ U{⌊H·lo⌋, …, ⌊H·hi⌋ − 1} (float64 products, as timm), cut_w likewise;
  top-left corner y1 ~ U{0, …, H − cut_h − 1} with "official" (timm before 1.0.31:
  the box never touches the bottom/right border) or U{0, …, H − cut_h} with "timm"
  (timm 1.0.31). Where timm's NumPy `randint` would raise on an empty range (lo and
  hi giving the same integer side, or a side equal to the image), this takes the
  one-element range instead.

  Args:
    key: PRNG key.
    minmax: (lo, hi) with 0 < lo <= hi <= 1, concrete numbers.
    height, width: image size.
    shape: `()` for one box, `(batch,)` per sample.
    box_convention: "official" or "timm".
    offset: the first of the 8 words used in each row of `random_words(key, ...)`.

  Returns:
    `Box` of int32 arrays of `shape`.
  """
  words = sampling.sample_words(key, shape, MINMAX_WORDS, offset)
  return box_minmax_from_words(words, minmax, height, width, box_convention=box_convention)


def box_area(box: Box) -> jax.Array:
  """Pixel count of a (clipped) box, int32."""
  return (box.y2 - box.y1) * (box.x2 - box.x1)


def corrected_lam(box: Box, height: int, width: int) -> jax.Array:
  """λ corrected to the pasted area: 1 − area / (H·W), float32."""
  return 1.0 - box_area(box).astype(jnp.float32) / float(height * width)


def box_mask(box: Box, height: int, width: int) -> jax.Array:
  """Boolean mask of shape `box.shape + (H, W)`, True inside the box."""
  # Full (H, W) iotas, not an [H, 1] and a [1, W] one: with a row mask of its own XLA:GPU
  # materializes it in a separate kernel before the pixel pass at 224×224 (kernel_count).
  ys = jax.lax.broadcasted_iota(jnp.int32, (height, width), 0)
  xs = jax.lax.broadcasted_iota(jnp.int32, (height, width), 1)
  e = lambda c: jnp.asarray(c)[..., None, None]
  return (ys >= e(box.y1)) & (ys < e(box.y2)) & (xs >= e(box.x1)) & (xs < e(box.x2))


def where_box(box: Box, inside, outside: jax.Array, data_format: str = "NHWC") -> jax.Array:
  """`inside` within `box` and `outside` elsewhere, on images [..., H, W, C] or [..., C, H, W].

  `inside` broadcasts against `outside` (partner images, or a fill per channel); the
  result has the shape and dtype of `outside`.
  """
  if data_format != "NHWC":
    return select_in_box(box, inside, outside, data_format)
  # XLA:CPU does not vectorize a pass whose innermost axis is 3 channels: there the select
  # runs on [..., H, W·C] rows (~2× faster at 256×32×32×3 float32). XLA:GPU splits that
  # one into more kernels at 224² (benchmarks/kernel_count.py), so elsewhere it stays NHWC.
  return jax.lax.platform_dependent(
      box, inside, outside, cpu=lambda *a: select_in_box(*a, "NHWC", flat_rows=True),
      default=lambda *a: select_in_box(*a, "NHWC"))


def select_in_box(box: Box, inside, outside: jax.Array, data_format: str = "NHWC", *,
                  flat_rows: bool = False) -> jax.Array:
  """`where_box` on one layout; `flat_rows` selects NHWC images as [..., H, W·C] (box
  columns x1·C … x2·C), the same values."""
  height, width = _layout.image_size(outside, data_format)
  if not flat_rows:
    mask = _layout.expand_mask(box_mask(box, height, width), data_format)
    return jnp.where(mask, inside, outside)
  if data_format != "NHWC":
    raise ValueError(f"flat_rows needs data_format 'NHWC', got {data_format!r}")
  shape = outside.shape
  row = width * shape[-1]

  def flat(a):
    a = jnp.asarray(a, outside.dtype)
    if a.ndim <= 1:   # a fill, scalar or per channel: one [W·C] row
      return jnp.broadcast_to(a, shape[-2:]).reshape(row)
    return jnp.broadcast_to(a, shape).reshape(shape[:-2] + (row,))

  scaled = box._replace(x1=jnp.asarray(box.x1) * shape[-1], x2=jnp.asarray(box.x2) * shape[-1])
  mask = box_mask(scaled, height, row)
  if mask.ndim == len(shape) - 1:   # per-sample boxes, as replicated as the key they came from
    mask = _layout.match_batch_sharding(mask, outside)
  return jnp.where(mask, flat(inside), flat(outside)).reshape(shape)


def cutout_box(cy: jax.Array, cx: jax.Array, size: int, height: int, width: int) -> Box:
  """The Cutout square centred at (cy, cx), clipped to the image.

  y1 = clip(cy − size // 2, 0, H), y2 = clip(cy + size // 2, 0, H), same for x;
  equivalent to the official Cutout code (uoguelph-mlrg/Cutout), so an odd
  `size` gives a square of side `size − 1` there and here.
  """
  half = size // 2
  return Box(*(jnp.asarray(c, jnp.int32) for c in (
      jnp.clip(cy - half, 0, height), jnp.clip(cy + half, 0, height),
      jnp.clip(cx - half, 0, width), jnp.clip(cx + half, 0, width))))


def erasing_words(attempts: int) -> int:
  """Words of one random-erasing draw: area and aspect per attempt, then y and x."""
  return 2 * _checks.static_int("attempts", attempts) + 2


def erasing_box_from_words(words: jax.Array, height: int, width: int, *,
                           area: tuple[float, float] = (0.02, 1 / 3),
                           aspect: tuple[float, float] = (0.3, 1 / 0.3),
                           attempts: int = 10) -> tuple[Box, jax.Array]:
  """`sample_erasing_box` from `erasing_words(attempts)` words: the attempts' areas,
  their aspects, then the corner's y and x."""
  lo, hi = _checks.check_range("area", area, high=1)
  aspect = _checks.check_range("aspect", aspect)
  attempts = _checks.static_int("attempts", attempts)
  target = sampling.uniform(words[..., :attempts], lo, hi) * (height * width)
  log_r = sampling.uniform(words[..., attempts:2 * attempts], jnp.log(aspect[0]),
                           jnp.log(aspect[1]))
  r = jnp.exp(log_r)
  h = jnp.round(jnp.sqrt(target * r)).astype(jnp.int32)
  w = jnp.round(jnp.sqrt(target / r)).astype(jnp.int32)
  # As timm and torchvision: an attempt with h or w of 0 fits, and erases nothing.
  valid = (h < height) & (w < width)
  first = jnp.argmax(valid, axis=-1)
  found = jnp.any(valid, axis=-1)
  pick = lambda a: jnp.take_along_axis(a, first[..., None], axis=-1)[..., 0]
  h, w = jnp.where(found, pick(h), 0), jnp.where(found, pick(w), 0)
  # Uniform integer in [0, size - side] via a float draw, so one word serves any range.
  y1 = jnp.floor(sampling.unit(words[..., 2 * attempts]) * (height - h + 1)).astype(jnp.int32)
  x1 = jnp.floor(sampling.unit(words[..., 2 * attempts + 1]) * (width - w + 1)).astype(jnp.int32)
  y1, x1 = jnp.minimum(y1, height - h), jnp.minimum(x1, width - w)
  return Box(y1, y1 + h, x1, x1 + w), found


def sample_erasing_box(key: jax.Array, height: int, width: int, *,
                       area: tuple[float, float] = (0.02, 1 / 3),
                       aspect: tuple[float, float] = (0.3, 1 / 0.3),
                       attempts: int = 10,
                       shape: Sequence[int] = (), offset: int = 0) -> tuple[Box, jax.Array]:
  """Samples a random-erasing rectangle (Zhong et al. 2017), vectorized over attempts.

  Each attempt draws target area s·H·W with s ~ U(area) and aspect ratio r
  log-uniform in `aspect` (as torchvision and timm), h = round(√(s·H·W·r)),
  w = round(√(s·H·W / r)); the first attempt with h < H and w < W wins, and its
  top-left corner is uniform over the valid positions. The attempts run in
  parallel and the first valid one is selected, so the result equals the
  sequential loop on the same draws. The draws are words `offset` … of each row
  of `random_words(key, ...)` (`erasing_box_from_words`).

  Returns:
    (box, found): `Box` of `shape`, and bool `found`; where no attempt fits,
    `found` is False and the box is empty. A fitting attempt may have h or w
    of 0 on tiny images; it is taken, as timm does, and erases nothing.
  """
  words = sampling.sample_words(key, shape, erasing_words(attempts), offset)
  return erasing_box_from_words(words, height, width, area=area, aspect=aspect,
                                attempts=attempts)
