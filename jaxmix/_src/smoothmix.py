"""SmoothMix (Lee et al. 2020): the partner through a soft Gaussian blob, no hard edges.

CutMix's sharp box edges are a shortcut a network can learn; SmoothMix blends
the partner in with weight g(y, x) = exp(−((y − cy)² + (x − cx)²) / (2σ²)),
σ = (u / 4 + 1/4)·H with u ~ U(0, 1), centre (cy, cx) = (i − ½, j − ½) for a
uniform pixel (i, j). This is the kernel of openmixup's `smoothmix` (the
reference implementation the paper's authors point to) given the same draws,
including its half-pixel centre offset. The label weights are the true shares:
1 − mean(g) for the image, mean(g) for the partner.
"""

from typing import Optional

import jax
import jax.numpy as jnp

from jaxmix._src import _checks
from jaxmix._src import _layout
from jaxmix._src import batch
from jaxmix._src import boxes
from jaxmix._src import fmix
from jaxmix._src import mixing
from jaxmix._src import sampling


def gaussian_mask(cy: jax.Array, cx: jax.Array, sigma: jax.Array, height: int,
                  width: int) -> jax.Array:
  """The partner's weight g [H, W] of a blob centred at (cy, cx) (float, pixel units)."""
  ys = jnp.arange(height, dtype=jnp.float32)[:, None]
  xs = jnp.arange(width, dtype=jnp.float32)[None, :]
  d2 = (ys - cy) ** 2 + (xs - cx) ** 2
  # Snapped: a weight too small for any dtype is 0 the same way under jit and eagerly.
  return _layout.snap_weights(jnp.exp(-d2 / (2.0 * jnp.asarray(sigma, jnp.float32) ** 2)))


# Words of one SmoothMix draw: the centre (boxes.CENTRE_WORDS), then σ (1).
NUM_WORDS = boxes.CENTRE_WORDS + 1


def mask_from_words(words: jax.Array, height: int, width: int,
                    sigma_range: tuple = (0.25, 0.5)) -> tuple[jax.Array, jax.Array]:
  """`sample_mask` from `NUM_WORDS` words: the centre words 0 … 3, σ word 4."""
  iy, ix = boxes.centre_from_words(words[:boxes.CENTRE_WORDS], height, width)
  lo, hi = _checks.check_pair("sigma_range", sigma_range)
  sigma = sampling.uniform(words[boxes.CENTRE_WORDS], lo, hi) * height
  g = gaussian_mask(iy.astype(jnp.float32) - 0.5, ix.astype(jnp.float32) - 0.5, sigma, height,
                    width)
  return g, 1.0 - jnp.mean(g)


def sample_mask(key: jax.Array, height: int, width: int,
                sigma_range: tuple = (0.25, 0.5)) -> tuple[jax.Array, jax.Array]:
  """One SmoothMix blob, (g [H, W], image weight 1 − mean(g)), from row 0 of
  `random_words(key, ...)` (`mask_from_words`)."""
  return mask_from_words(sampling.random_words(key, 1, NUM_WORDS)[0], height, width, sigma_range)


def smoothmix_op(sigma_range, height: int, width: int, data_format: str) -> mixing.MixOp:
  """SmoothMix as a `MixOp`: {"keep": 1 − g, "lam": 1 − mean(g)}."""
  def draw(words):
    g, lam = mask_from_words(words, height, width, sigma_range)
    return {"keep": 1.0 - g, "lam": lam}

  return mixing.MixOp(draw=draw, num_words=NUM_WORDS,
                      apply=lambda p, x, px: fmix.apply_mask(x, px, p["keep"], data_format),
                      weights=lambda p: (p["lam"], 1.0 - p["lam"]))


def smoothmix(key: jax.Array, images: jax.Array, labels: jax.Array, *,
              sigma_range: tuple = (0.25, 0.5), mode: str = "elem", partner: str = "flip",
              num_classes: Optional[int] = None, label_smoothing=0.0, num_shards: int = 1,
              axis_name=None, multi_label: bool = False, data_format: str = "NHWC",
              prob=1.0, **targets):
  """SmoothMix: blends the partner in through a Gaussian blob; labels by its mean.

  Args:
    key: PRNG key.
    images: [B, H, W, C] (or NCHW); blended in float32, integers rounded back.
    labels: integer ids [B] (with `num_classes`) or float rows [B, K].
    sigma_range: σ / H is uniform in this range (the reference: (0.25, 0.5)).
    mode, partner, num_classes, label_smoothing, num_shards, data_format: as
      `jaxmix.cutmix`.
    {targets}

  Returns:
    (images, label_rows), followed by the mixed masks (integer masks become
    per-pixel rows: `num_classes` needed), boxes and extras that were given.
    A sample that is its own partner is returned exactly unchanged, with
    its label row, masks, boxes (partner slots empty) and extras.
  """
  _checks.check_range("sigma_range", sigma_range)
  height, width = batch.image_size(images, data_format)
  op = smoothmix_op(sigma_range, height, width, data_format)
  return batch.run_op(key, images, labels, op, lambda p: ("mask", p["keep"]), mode=mode,
                      partner=partner, num_shards=num_shards, num_classes=num_classes,
                      label_smoothing=label_smoothing, data_format=data_format,
                      axis_name=axis_name, multi_label=multi_label, name="smoothmix", prob=prob,
                      **targets)


smoothmix.__doc__ = smoothmix.__doc__.replace("{targets}", batch.TARGET_ARGS_DOC)
