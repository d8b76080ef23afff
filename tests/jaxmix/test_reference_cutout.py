"""Official Cutout (uoguelph-mlrg/Cutout `util/cutout.py`) and random erasing (the sequential
attempt loop of timm / torchvision `RandomErasing`)."""

import math

import hypothesis
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import numpy as np

import jaxmix
from tests.jaxmix.reference_utils import (SEEDS, SETTINGS, SIZES, box_tuple, prng_key, random_images)


# ---------------------------------------------------------------------------
# Official Cutout (uoguelph-mlrg/Cutout, util/cutout.py), one hole.
# ---------------------------------------------------------------------------

def official_cutout(img_chw, length, y, x):
  """`Cutout.__call__` for one CHW image, `y`, `x` standing in for its randint draws."""
  h, w = img_chw.shape[1], img_chw.shape[2]
  mask = np.ones((h, w), np.float32)
  y1 = np.clip(y - length // 2, 0, h)
  y2 = np.clip(y + length // 2, 0, h)
  x1 = np.clip(x - length // 2, 0, w)
  x2 = np.clip(x + length // 2, 0, w)
  mask[y1:y2, x1:x2] = 0.
  return img_chw * mask[None]


@hypothesis.given(seed=SEEDS, size=SIZES, length=st.sampled_from([1, 3, 4, 16]),
                  mode=st.sampled_from(["elem", "batch"]),
                  dtype=st.sampled_from([np.uint8, np.float32]),
                  data_format=st.sampled_from(["NHWC", "NCHW"]))
@SETTINGS
def test_cutout_equals_official(seed, size, length, mode, dtype, data_format):
  height, width = size
  batch = 4
  key = prng_key(seed)
  x_nchw = random_images(seed, (batch, 3, height, width), dtype)
  x_in = x_nchw if data_format == "NCHW" else x_nchw.transpose(0, 2, 3, 1)
  got = np.asarray(jaxmix.cutout(key, jnp.asarray(x_in), size=length, mode=mode,
                                 data_format=data_format))
  if data_format == "NHWC":
    got = got.transpose(0, 3, 1, 2)
  assert got.dtype == dtype
  # cutout reads the words of `key` itself: row 0 (batch) or row i (elem); word 0 is
  # the gate, words 1-4 the centre.
  if mode == "batch":
    centres = [jaxmix.sample_centre(key, height, width, offset=1)] * batch
  else:
    cys, cxs = jaxmix.sample_centre(key, height, width, (batch,), offset=1)
    centres = list(zip(np.asarray(cys), np.asarray(cxs)))
  want = np.stack([official_cutout(x_nchw[i].astype(np.float64), length, int(cy), int(cx))
                   for i, (cy, cx) in enumerate(centres)])
  np.testing.assert_array_equal(got, want.astype(dtype))


def test_cutout_elem_differs_per_image_and_leaves_rest():
  """Cannot-pass-by-accident check: elem boxes vary, pixels outside boxes untouched."""
  x = np.full((16, 8, 8, 1), 7, np.uint8)
  out = np.asarray(jaxmix.cutout(prng_key(3), jnp.asarray(x), size=4, mode="elem"))
  erased = out[..., 0] == 0
  assert np.all((out == 7) | (out == 0))
  assert len({m.tobytes() for m in erased}) > 1
  assert erased.any(axis=(1, 2)).all()


# ---------------------------------------------------------------------------
# Random erasing: timm / torchvision `RandomErasing`'s sequential attempt loop.
# ---------------------------------------------------------------------------

def timm_erasing_loop(height, width, targets, log_ratios, u_y, u_x):
  """timm `RandomErasing._erase` attempt loop on given draws; returns a box or None.

    for attempt in range(10):
      target_area = random.uniform(min_area, max_area) * area
      aspect_ratio = math.exp(random.uniform(*log_aspect_ratio))
      h = int(round(math.sqrt(target_area * aspect_ratio)))
      w = int(round(math.sqrt(target_area / aspect_ratio)))
      if w < img_w and h < img_h:
        top = random.randint(0, img_h - h); left = random.randint(0, img_w - w)
        ...; break
  `targets` are already multiplied by the area; the corner uses the given uniforms
  mapped onto randint's inclusive range.
  """
  for target_area, log_r in zip(targets, log_ratios):
    aspect_ratio = math.exp(log_r)
    h = int(round(math.sqrt(target_area * aspect_ratio)))
    w = int(round(math.sqrt(target_area / aspect_ratio)))
    if w < width and h < height:
      top = min(int(math.floor(u_y * (height - h + 1))), height - h)
      left = min(int(math.floor(u_x * (width - w + 1))), width - w)
      return top, top + h, left, left + w
  return None


def _erasing_draws(key, row, height, width, area, aspect, attempts):
  """random_erasing's draws for sample `row`, restated from its words: row `row` of
  `random_words(key, ...)`, word 0 the gate, then the attempts' areas, their aspects,
  the corner's y and x, each word a uniform ((w >> 9) + ½)·2⁻²³."""
  words = np.asarray(jaxmix.random_words(key, jnp.array([row]), 3 + 2 * attempts))[0]
  u = ((words >> 9).astype(np.float64) + 0.5) * 2.0 ** -23
  targets = (area[0] + (area[1] - area[0]) * u[1:1 + attempts]) * (height * width)
  lo, hi = np.log(aspect[0]), np.log(aspect[1])
  log_r = lo + (hi - lo) * u[1 + attempts:1 + 2 * attempts]
  return u[0], targets, log_r, u[1 + 2 * attempts], u[2 + 2 * attempts]


def _rounding_boundary(targets, log_r):
  """sqrt(t·r) or sqrt(t/r) within 1e-4 of a .5 (float32 vs float64 round)."""
  r = np.exp(log_r.astype(np.float64))
  v = np.concatenate([np.sqrt(targets * r), np.sqrt(targets / r)])
  return bool((np.abs(v - np.floor(v) - 0.5) < 1e-4).any())


@hypothesis.given(seed=SEEDS, area=st.sampled_from([(0.02, 1 / 3), (0.3, 0.9)]),
                  aspect=st.sampled_from([(0.3, 1 / 0.3), (1.0, 1.0), (2.0, 4.0)]))
@SETTINGS
def test_erasing_box_is_first_valid_attempt(seed, area, aspect):
  height, width, attempts = 16, 20, 10
  key = prng_key(seed)
  _, targets, log_r, u_y, u_x = _erasing_draws(key, 0, height, width, area, aspect, attempts)
  hypothesis.assume(not _rounding_boundary(targets, log_r))
  box, found = jaxmix.sample_erasing_box(key, height, width, area=area, aspect=aspect,
                                         attempts=attempts, offset=1)
  want = timm_erasing_loop(height, width, targets, log_r, u_y, u_x)
  assert bool(found) == (want is not None)
  if want is not None:
    assert box_tuple(box) == want
    y1, y2, x1, x2 = want
    h, w = y2 - y1, x2 - x1
    # A rectangle of the requested area and aspect, up to rounding of its sides.
    assert area[0] * height * width - (h + w) / 2 - 0.25 <= h * w
    assert h * w <= area[1] * height * width + (h + w) / 2 + 0.25
    assert aspect[0] * (w - 0.5) / (w + 0.5) - 1e-6 <= h / w
    assert h / w <= aspect[1] * (w + 0.5) / (w - 0.5) + 1e-6


@hypothesis.given(seed=SEEDS, prob=st.sampled_from([1.0, 0.5]),
                  data_format=st.sampled_from(["NHWC", "NCHW"]))
@SETTINGS
def test_random_erasing_erases_exactly_the_box(seed, prob, data_format):
  batch, height, width, attempts = 4, 16, 20, 10
  area, aspect = (0.02, 1 / 3), (0.3, 1 / 0.3)
  key = prng_key(seed)
  # Nonzero pixels so that an erased (0) pixel is unambiguous.
  x = (random_images(seed, (batch, height, width, 3), np.uint8) % 254 + 1).astype(np.uint8)
  x_in = x if data_format == "NHWC" else x.transpose(0, 3, 1, 2)
  got = np.asarray(jaxmix.random_erasing(key, jnp.asarray(x_in), prob=prob, area=area,
                                         aspect=aspect, attempts=attempts,
                                         data_format=data_format))
  if data_format == "NCHW":
    got = got.transpose(0, 2, 3, 1)
  # random_erasing: sample i reads row i of the words of `key`: the gate (word 0) and
  # the box (`sample_erasing_box(..., offset=1)`); applied where found & gate < prob.
  boxes, founds = jaxmix.sample_erasing_box(key, height, width, area=area, aspect=aspect,
                                            attempts=attempts, shape=(batch,), offset=1)
  for i in range(batch):
    gate, targets, log_r, u_y, u_x = _erasing_draws(key, i, height, width, area, aspect,
                                                    attempts)
    box, found = jaxmix.Box(*(c[i] for c in boxes)), founds[i]
    apply = bool(found) and gate < prob
    erased = (got[i] == 0)
    assert (erased.all(-1) == erased.any(-1)).all()  # all channels together
    want_mask = np.zeros((height, width), bool)
    if apply:
      y1, y2, x1, x2 = box_tuple(box)
      want_mask[y1:y2, x1:x2] = True
      if not _rounding_boundary(targets, log_r):
        assert (y1, y2, x1, x2) == timm_erasing_loop(height, width, targets, log_r, u_y, u_x)
    np.testing.assert_array_equal(erased[..., 0], want_mask)
    np.testing.assert_array_equal(got[i][~want_mask], x[i][~want_mask])


def test_erasing_tiny_image_first_attempt_semantics():
  height, width, attempts = 4, 4, 10
  area, aspect = (0.02, 0.1), (0.3, 1 / 0.3)
  mismatches = []
  for seed in range(64):
    _, targets, log_r, u_y, u_x = _erasing_draws(prng_key(seed), 0, height, width, area,
                                                 aspect, attempts)
    if _rounding_boundary(targets, log_r):
      continue
    box, found = jaxmix.sample_erasing_box(prng_key(seed), height, width, area=area,
                                           aspect=aspect, attempts=attempts, offset=1)
    want = timm_erasing_loop(height, width, targets, log_r, u_y, u_x)
    got = box_tuple(box) if bool(found) else None
    # An empty reference box and "not found" both erase nothing.
    area_want = 0 if want is None else (want[1] - want[0]) * (want[3] - want[2])
    area_got = 0 if got is None else (got[1] - got[0]) * (got[3] - got[2])
    if area_want == 0 and area_got == 0:
      continue
    if got != want:
      mismatches.append((seed, got, want))
  assert not mismatches, mismatches[:3]
