"""Shared pieces of the reference tests (tests/test_reference_*.py).

Each reference is re-written in float64 NumPy from the papers' official code (it calls
no jaxmix helper), with the random draws passed in as arguments. jaxmix's draws are
reproduced from its documented key derivation (the docstrings of `cutmix`, `cutout`,
`mixup`, `mix`) using only the public samplers (`sample_lam`, `sample_centre`,
`partner_index`, `sample_mix_params`, `sample_erasing_box`); the references then get the
same λ / centres / partners.
"""

import hypothesis
from hypothesis import strategies as st
import jax
import numpy as np


# The profile's example count (tests/conftest.py: 10 in CI, 300 with
# JAXMIX_HYPOTHESIS=extended); the draws are seeds on two fixed shapes, so a
# handful already meets every mode, dtype and layout the strategies offer.
SETTINGS = hypothesis.settings(deadline=None, derandomize=True,
                               suppress_health_check=[hypothesis.HealthCheck.too_slow])
SEEDS = st.integers(0, 2**31 - 1)
# A few fixed shapes keep compile cost low: one square, one non-square (H != W).
SIZES = st.sampled_from([(8, 8), (7, 12)])
NUM_CLASSES = 5


def prng_key(seed):
  return jax.random.key(seed)


def random_images(seed, shape, dtype=np.float32):
  rng = np.random.default_rng(seed)
  if np.issubdtype(dtype, np.integer):
    return rng.integers(0, 256, size=shape).astype(dtype)
  return rng.normal(size=shape).astype(dtype)


def near_integer(v, tol=1e-4):
  """True where v is within tol of an integer but not one (float32/float64 boundary)."""
  v = np.asarray(v, np.float64)
  d = np.abs(v - np.round(v))
  return (d < tol) & (d != 0)


# ---------------------------------------------------------------------------
# Official CutMix (clovaai/CutMix-PyTorch, train.py), float64.
# ---------------------------------------------------------------------------

def official_rand_bbox(height, width, lam, cy, cx):
  """`rand_bbox(size, lam)` of official CutMix with the centre given.

  The official code reads `W = size[2]; H = size[3]` from an NCHW size and pastes
  `input[:, :, bbx1:bbx2, bby1:bby2]`, so its "W"/"x" is really dim 2 (rows) and
  its "H"/"y" dim 3 (columns). Restated with honest names: rows (height, dim 2)
  get cut_h = int(H * cut_rat) about cy, columns (width, dim 3) get cut_w about cx.
  The arithmetic is float64 NumPy, as there.
  """
  cut_rat = np.sqrt(1.0 - np.float64(lam))
  cut_h = int(height * cut_rat)
  cut_w = int(width * cut_rat)
  y1 = int(np.clip(cy - cut_h // 2, 0, height))
  y2 = int(np.clip(cy + cut_h // 2, 0, height))
  x1 = int(np.clip(cx - cut_w // 2, 0, width))
  x2 = int(np.clip(cx + cut_w // 2, 0, width))
  return y1, y2, x1, x2


def np_one_hot(ids, k, smoothing=0.0):
  off = smoothing / k
  on = 1.0 - smoothing + off
  rows = np.full((len(ids), k), off, np.float64)
  rows[np.arange(len(ids)), ids] = on
  return rows


def box_tuple(box):
  return tuple(int(np.asarray(c)) for c in box)


def timm_minmax_ranges(img_shape, minmax):
  """The `np.random.randint` ranges of timm `rand_bbox_minmax` (high exclusive)."""
  img_h, img_w = img_shape[-2:]
  return ((int(img_h * minmax[0]), int(img_h * minmax[1])),
          (int(img_w * minmax[0]), int(img_w * minmax[1])))
