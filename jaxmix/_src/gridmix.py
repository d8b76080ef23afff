"""GridMix (Baek et al., Pattern Recognition 2021): the partner shows through a grid of holes.

A crop of area `cut_area_ratio`·H·W and aspect `cut_aspect_ratio` is placed uniformly in the
image; it is tiled into `n_holes` patches across, of height `hole_aspect_ratio` × their width,
and each patch has a hole of side fraction √(1 − λ) in its top-left corner where the partner
shows. The label weight of the partner is the holes' area fraction. Restated from openmixup's
`gridmix` (Westlake-AI/openmixup `openmixup/models/augments/gridmix.py`, after
IlyaDobrynin/GridMixup) with its draws passed in; two deliberate differences, both only where
openmixup's result is not what it means:
- each axis uses its own size (openmixup takes W = size[2], H = size[3] of an NCHW batch, so
  for H ≠ W the crop's offsets use the other axis's size);
- a crop larger than the image (large area × extreme aspect) is clipped to it, and `n_holes`
  to [1, crop width // 2] (openmixup indexes from the end / asserts).
"""

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from jaxmix._src import _checks
from jaxmix._src import batch
from jaxmix._src import fmix
from jaxmix._src import mixing
from jaxmix._src import sampling


def _pair(name: str, value, integer: bool = False) -> tuple:
  """A number or a (lo, hi) pair → (lo, hi), checked where concrete."""
  if isinstance(value, (tuple, list)) or jnp.ndim(value) > 0:
    lo, hi = _checks.check_pair(name, value)
  else:
    lo, hi = value, value
  clo, chi = _checks.concrete_value(lo), _checks.concrete_value(hi)
  if clo is not None and chi is not None:
    if not (np.isfinite(clo) and np.isfinite(chi) and 0 < clo <= chi):
      raise ValueError(f"{name} must be a number or a pair (lo, hi) with 0 < lo <= hi "
                       f"(finite), got {value!r}")
    if integer and (int(clo) != clo or int(chi) != chi):
      raise ValueError(f"{name} must be integers >= 1, got {value!r}")
  return lo, hi


def grid_mask(lam, n_holes, hole_aspect_ratio, cut_area_ratio, cut_aspect_ratio, cy, cx,
              height: int, width: int) -> jax.Array:
  """The holes, bool [H, W] (True: the partner shows), from one draw's numbers.

  cut_w = ⌊√(⌊H·W·area⌋ / aspect)⌋, cut_h = ⌊cut_w·aspect⌋ (clipped to the image), the crop
  at (⌊(H − cut_h)·cy⌋, ⌊(W − cut_w)·cx⌋); patches ⌈cut_w / n⌉ wide and ⌊width · hole
  aspect⌋ high; holes ⌊patch · √(1 − λ)⌋ per side, at least 1 and at most patch − 1.
  """
  f32 = lambda v: jnp.asarray(v, jnp.float32)
  cut_area = jnp.floor(height * width * f32(cut_area_ratio))
  cut_w = jnp.floor(jnp.sqrt(cut_area / f32(cut_aspect_ratio)))
  cut_h = jnp.floor(cut_w * f32(cut_aspect_ratio))
  cut_w = jnp.clip(cut_w, 0, width).astype(jnp.int32)
  cut_h = jnp.clip(cut_h, 0, height).astype(jnp.int32)
  y0 = jnp.floor((height - cut_h) * f32(cy)).astype(jnp.int32)
  x0 = jnp.floor((width - cut_w) * f32(cx)).astype(jnp.int32)
  n = jnp.clip(jnp.asarray(n_holes, jnp.int32), 1, jnp.maximum(cut_w // 2, 1))
  patch_w = jnp.maximum(-(-cut_w // n), 1)                  # ceil(cut_w / n)
  patch_h = jnp.floor(patch_w * f32(hole_aspect_ratio)).astype(jnp.int32)
  ratio = jnp.sqrt(1.0 - f32(lam))
  hole_w = jnp.minimum(jnp.maximum(jnp.floor(patch_w * ratio).astype(jnp.int32), 1), patch_w - 1)
  hole_h = jnp.minimum(jnp.maximum(jnp.floor(patch_h * ratio).astype(jnp.int32), 1), patch_h - 1)
  ly = jnp.arange(height, dtype=jnp.int32)[:, None] - y0   # position inside the crop
  lx = jnp.arange(width, dtype=jnp.int32)[None, :] - x0
  inside = (ly >= 0) & (ly < cut_h) & (lx >= 0) & (lx < cut_w)
  in_hole = (lx % patch_w < hole_w) & (ly % jnp.maximum(patch_h, 1) < hole_h)
  return inside & in_hole


# Words of one GridMix draw: λ (4), n_holes (2), the three ratios (1 each), cy, cx (1 each).
NUM_WORDS = sampling.LAM_WORDS + 2 + 3 + 2


def params_from_words(words: jax.Array, *, alpha=1.0, n_holes=(2, 6), hole_aspect_ratio=1.0,
                      cut_area_ratio=(0.5, 1.0), cut_aspect_ratio=(0.5, 2.0)) -> dict:
  """`sample_params` from `NUM_WORDS` words, in the order of its docstring."""
  lam_end = sampling.LAM_WORDS
  n_lo, n_hi = n_holes
  span = jnp.asarray(n_hi, jnp.int32) - jnp.asarray(n_lo, jnp.int32) + 1
  uniform = lambda i, pair: sampling.uniform(words[..., lam_end + 2 + i], pair[0], pair[1])
  return {
      "lam": sampling.beta_from_words(words[..., :lam_end], alpha),
      "n_holes": jnp.asarray(n_lo, jnp.int32) + sampling.below(
          words[..., lam_end], words[..., lam_end + 1], span),
      "hole_aspect_ratio": uniform(0, hole_aspect_ratio),
      "cut_area_ratio": uniform(1, cut_area_ratio),
      "cut_aspect_ratio": uniform(2, cut_aspect_ratio),
      "cy": sampling.unit(words[..., lam_end + 5]),
      "cx": sampling.unit(words[..., lam_end + 6]),
  }


def sample_params(key: jax.Array, *, alpha=1.0, n_holes=(2, 6), hole_aspect_ratio=1.0,
                  cut_area_ratio=(0.5, 1.0), cut_aspect_ratio=(0.5, 2.0)) -> dict:
  """One draw: λ ~ Beta(α, α), n ~ U{lo..hi}, the three ratios ~ U(lo, hi), cy, cx ~ U(0, 1).

  The draws are row 0 of `random_words(key, ...)`: λ words 0 … 3, n words 4, 5, the
  ratios words 6, 7, 8, cy word 9, cx word 10 (`params_from_words`).
  """
  return params_from_words(sampling.random_words(key, 1, NUM_WORDS)[0], alpha=alpha,
                           n_holes=n_holes, hole_aspect_ratio=hole_aspect_ratio,
                           cut_area_ratio=cut_area_ratio, cut_aspect_ratio=cut_aspect_ratio)


def gridmix_op(options: dict, height: int, width: int, data_format: str) -> mixing.MixOp:
  """GridMix as a `MixOp`: label weight of the image = 1 − holes / (H·W)."""
  def draw(words):
    p = params_from_words(words, **options)
    holes = grid_mask(p["lam"], p["n_holes"], p["hole_aspect_ratio"], p["cut_area_ratio"],
                      p["cut_aspect_ratio"], p["cy"], p["cx"], height, width)
    # A traced α <= 0 makes λ NaN: keep it loud in the labels rather than a plausible weight.
    weight = jnp.where(jnp.isnan(p["lam"]), jnp.nan, 1.0 - holes.mean(dtype=jnp.float32))
    return {"keep": ~holes, "lam": weight}

  return mixing.MixOp(draw=draw, num_words=NUM_WORDS,
                      apply=lambda p, x, px: fmix.apply_mask(x, px, p["keep"], data_format),
                      weights=lambda p: (p["lam"], 1.0 - p["lam"]),
                      exact_on_self=True)  # a bool mask copies pixels


def gridmix(key: jax.Array, images: jax.Array, labels: jax.Array, *, alpha=1.0,
            n_holes=(2, 6), hole_aspect_ratio=1.0, cut_area_ratio=(0.5, 1.0),
            cut_aspect_ratio=(0.5, 2.0), mode: str = "elem", partner: str = "flip",
            num_classes: Optional[int] = None, label_smoothing=0.0, num_shards: int = 1,
            axis_name=None, multi_label: bool = False, data_format: str = "NHWC", prob=1.0,
            **targets):
  """GridMix: the partner shows through a grid of holes in a crop of the image.

  Equivalent to openmixup's `gridmix` on square images given the same draws
  (see the module docstring for the two deliberate differences); the label
  weight of the partner is exactly the share of its pixels that show.

  Args:
    key: PRNG key.
    images: [B, H, W, C] (or NCHW); pixels are copied exactly, dtype kept.
    labels: integer ids [B] (with `num_classes`) or float rows [B, K].
    alpha: α > 0 of λ ~ Beta(α, α); the holes' side fraction is √(1 − λ).
    n_holes: patches across the crop, an int or an inclusive range (lo, hi).
    hole_aspect_ratio, cut_area_ratio, cut_aspect_ratio: a number or a range
      (lo, hi) drawn uniformly: patch height / width, the crop's share of the
      image, and the crop's height / width. Defaults: openmixup's CIFAR config.
    mode, partner, num_classes, label_smoothing, num_shards, data_format: as
      `jaxmix.cutmix`; "elem" draws one grid per image.
    {targets}

  Returns:
    (images, label_rows), followed by the mixed masks, boxes and extras that
    were given. Boxes shrink to the pixels of their own source that show.
    A sample that is its own partner is returned exactly unchanged, with
    its label row, masks, boxes (partner slots empty) and extras.
  """
  _checks.check_positive("alpha", alpha)
  options = dict(alpha=alpha, n_holes=_pair("n_holes", n_holes, integer=True),
                 hole_aspect_ratio=_pair("hole_aspect_ratio", hole_aspect_ratio),
                 cut_area_ratio=_pair("cut_area_ratio", cut_area_ratio),
                 cut_aspect_ratio=_pair("cut_aspect_ratio", cut_aspect_ratio))
  top = _checks.concrete_value(options["cut_area_ratio"][1])
  if top is not None and top > 1:
    raise ValueError(f"cut_area_ratio must be <= 1, got {cut_area_ratio!r}")
  height, width = batch.image_size(images, data_format)
  op = gridmix_op(options, height, width, data_format)
  return batch.run_op(key, images, labels, op, lambda p: ("mask", p["keep"]), mode=mode,
                      partner=partner, num_shards=num_shards, num_classes=num_classes,
                      label_smoothing=label_smoothing, data_format=data_format,
                      axis_name=axis_name, multi_label=multi_label, name="gridmix", prob=prob,
                      **targets)


gridmix.__doc__ = gridmix.__doc__.replace("{targets}", batch.TARGET_ARGS_DOC)
