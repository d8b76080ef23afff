"""`boxes.where_box` on both of its layouts (CPU's flat [B, H, W·C] rows, elsewhere NHWC):
each bit for bit a NumPy loop over the box's pixels."""

import itertools

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from jaxmix._src import boxes

DTYPES = [np.uint8, np.float32, ml_dtypes.bfloat16]


def numpy_where_box(inside, outside, y1, y2, x1, x2):
  """out[i, y1:y2, x1:x2, :] = inside[i, y1:y2, x1:x2, :]; the rest of `outside` (NHWC)."""
  out = outside.copy()
  inside = np.broadcast_to(inside, outside.shape)
  for i in range(len(outside)):
    out[i, y1[i]:y2[i], x1[i]:x2[i]] = inside[i, y1[i]:y2[i], x1[i]:x2[i]]
  return out


def random_boxes(rng, batch, height, width):
  ys = np.sort(rng.integers(0, height + 1, (2, batch)), axis=0)
  xs = np.sort(rng.integers(0, width + 1, (2, batch)), axis=0)
  # Edge cases first: empty, the whole image, one pixel at the far corner.
  fixed = [(0, 0, 0, 0), (0, height, 0, width), (height - 1, height, width - 1, width)]
  for i, (a, b, c, d) in enumerate(fixed[:batch]):
    ys[:, i], xs[:, i] = (a, b), (c, d)
  return ys[0], ys[1], xs[0], xs[1]


@pytest.mark.parametrize("flat_rows", [False, True])
@pytest.mark.parametrize("dtype,channels,shape", list(itertools.product(
    DTYPES, [1, 3, 4], [(5, 7, 9), (3, 1, 6)])))
def test_select_in_box_equals_numpy(flat_rows, dtype, channels, shape):
  rng = np.random.default_rng(channels * 10 + shape[1])
  batch, height, width = shape
  size = (batch, height, width, channels)
  outside = rng.integers(0, 200, size).astype(dtype)
  partner = rng.integers(0, 200, size).astype(dtype)
  fill = np.arange(1, channels + 1).astype(dtype)
  y1, y2, x1, x2 = random_boxes(rng, batch, height, width)
  box = boxes.Box(*(jnp.asarray(c, jnp.int32) for c in (y1, y2, x1, x2)))
  for inside in (partner, fill):
    got = jax.jit(lambda b, i, o: boxes.select_in_box(b, i, o, flat_rows=flat_rows))(
        box, inside, outside)
    want = numpy_where_box(inside, outside, y1, y2, x1, x2)
    assert got.dtype == outside.dtype
    np.testing.assert_array_equal(np.asarray(got).view(np.uint8), want.view(np.uint8))


def test_one_box_for_a_batch_and_a_single_image():
  rng = np.random.default_rng(0)
  outside = rng.random((4, 6, 5, 3), np.float32)
  partner = rng.random((4, 6, 5, 3), np.float32)
  box = boxes.Box(*(jnp.int32(c) for c in (1, 4, 2, 5)))
  want = numpy_where_box(partner, outside, *([c] * 4 for c in (1, 4, 2, 5)))
  for flat_rows in (False, True):
    got = boxes.select_in_box(box, partner, outside, flat_rows=flat_rows)
    np.testing.assert_array_equal(np.asarray(got), want)
    single = boxes.select_in_box(box, partner[2], outside[2], flat_rows=flat_rows)
    np.testing.assert_array_equal(np.asarray(single), want[2])


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="checks the CPU lowering")
def test_where_box_takes_the_cpu_layout_here():
  # On this CPU backend `where_box` compiles the flat-rows branch; its values are the NHWC
  # ones (above), so only the compiled program can tell: a [2, 4, 12] select, no branch.
  outside = jnp.zeros((2, 4, 4, 3), jnp.float32)
  box = boxes.Box(*(jnp.zeros(2, jnp.int32),) * 4)
  compiled = lambda f: jax.jit(lambda b, o: f(b, o + 1, o)).lower(box, outside).compile()
  text = compiled(boxes.where_box).as_text()
  assert "f32[2,4,12]" in text and "conditional(" not in text
  assert "f32[2,4,12]" not in compiled(boxes.select_in_box).as_text()


def test_flat_rows_needs_nhwc():
  box = boxes.Box(*(jnp.int32(0),) * 4)
  with pytest.raises(ValueError, match="flat_rows needs data_format 'NHWC'"):
    boxes.select_in_box(box, 0, jnp.zeros((1, 3, 4, 4)), "NCHW", flat_rows=True)
