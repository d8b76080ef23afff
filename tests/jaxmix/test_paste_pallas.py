"""The Pallas patch kernel (`paste_pallas.paste_kernel`) in Pallas' interpreter on the CPU:
bit for bit the mask path (`jaxmix.paste_box`) and a NumPy restatement of CutMix's paste,
over box modes, partners, dtypes, layouts, odd batches and shards.

The interpreter runs the grid's programs one after another on the aliased output buffer,
so a kernel that overwrote a box before its partner's program read it would fail here.
"""

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np

import jaxmix
from jaxmix._src import paste_pallas
from tests.jaxmix.test_paste import bits
from tests.jaxmix.test_paste import numpy_paste
from tests.jaxmix.test_paste import random_images

DTYPES = [np.float32, ml_dtypes.bfloat16, np.uint8]


def partner_indices(kind, batch, num_shards, rng):
  """(index, is an involution), restated from `jaxmix.partner_index`'s docstring."""
  local = batch // num_shards
  groups = np.arange(batch).reshape(num_shards, local)
  if kind == "flip":  # i <-> local - 1 - i inside each group
    return groups[:, ::-1].reshape(batch), True
  if kind == "roll":  # i takes i - 1 inside each group
    return np.roll(groups, 1, axis=1).reshape(batch), local <= 2
  if kind == "pairs":  # a random involution: random disjoint pairs, the rest fixed
    order, index = rng.permutation(batch), np.arange(batch)
    for a, b in order[: 2 * rng.integers(0, batch // 2 + 1)].reshape(-1, 2):
      index[a], index[b] = b, a
    return index, True
  if kind == "permute":
    return np.concatenate([rng.permutation(g) for g in groups]), False
  return rng.integers(0, batch, batch), False  # "any": not even a permutation


@st.composite
def cases(draw):
  num_shards = draw(st.sampled_from([1, 1, 2, 3]))
  batch = num_shards * draw(st.integers(1, 4))  # odd batches included
  height, width = draw(st.integers(1, 40)), draw(st.integers(1, 24))
  per_sample = draw(st.booleans())
  n = batch if per_sample else 1

  def side(size):
    lo = draw(st.lists(st.integers(0, size), min_size=n, max_size=n))
    return lo, [draw(st.integers(l, size)) for l in lo]  # may be empty

  return dict(batch=batch, num_shards=num_shards, height=height, width=width,
              channels=draw(st.sampled_from([1, 3])), per_sample=per_sample,
              ys=side(height), xs=side(width), dtype=draw(st.sampled_from(DTYPES)),
              data_format=draw(st.sampled_from(["NHWC", "NCHW"])),
              partners=draw(st.sampled_from(["flip", "roll", "pairs", "permute", "any"])),
              seed=draw(st.integers(0, 2**16)))


@settings(max_examples=25, deadline=None)
@given(cases())
def test_kernel_equals_mask_path_bit_for_bit(case):
  rng = np.random.default_rng(case["seed"])
  b, h, w, c = case["batch"], case["height"], case["width"], case["channels"]
  shape = (b, h, w, c) if case["data_format"] == "NHWC" else (b, c, h, w)
  x = random_images(rng, shape, case["dtype"])
  index, involution = partner_indices(case["partners"], b, case["num_shards"], rng)
  (y1, y2), (x1, x2) = case["ys"], case["xs"]
  if case["per_sample"]:
    box = jaxmix.Box(*(jnp.asarray(v, jnp.int32) for v in (y1, y2, x1, x2)))
  else:
    box = jaxmix.Box(*(jnp.int32(v[0]) for v in (y1, y2, x1, x2)))
  per = lambda v: np.broadcast_to(np.asarray(v), (b,))

  got = paste_pallas.paste_kernel(jnp.asarray(x), jnp.asarray(index), box,
                                  data_format=case["data_format"], involution=involution,
                                  interpret=True)
  want = numpy_paste(x, index, per(y1), per(y2), per(x1), per(x2), case["data_format"])
  mask_path = jaxmix.paste_box(jnp.asarray(x), jnp.asarray(x)[index], box,
                               case["data_format"])
  assert got.dtype == x.dtype and got.shape == x.shape
  np.testing.assert_array_equal(bits(got), bits(want))
  np.testing.assert_array_equal(bits(got), bits(mask_path))


def test_rows_longer_than_one_block_are_pasted_whole():
  """An image of 3 blocks' pixels, one box across the block edges, permuted partners."""
  h, w, c = 64, 40, 3  # 7680 pixels: blocks of 2048 end inside rows
  assert h * w * c > 3 * paste_pallas.BLOCK
  rng = np.random.default_rng(1)
  x = rng.integers(0, 256, (5, h, w, c), dtype=np.uint8)
  index = np.array([2, 0, 4, 1, 3])  # one cycle of length 5: no pair kernel
  box = jaxmix.Box(*(jnp.asarray(v, jnp.int32) for v in (
      [3, 0, 10, 17, 60], [61, 64, 11, 50, 64], [1, 0, 39, 5, 0], [38, 40, 40, 36, 40])))
  got = paste_pallas.paste_kernel(jnp.asarray(x), jnp.asarray(index), box, interpret=True)
  want = numpy_paste(x, index, *(np.asarray(v) for v in box), "NHWC")
  np.testing.assert_array_equal(np.asarray(got), want)


def test_donated_batch_is_written_in_place():
  """Under jit with the batch donated, the output reuses the input buffer."""
  x = jnp.asarray(np.arange(4 * 6 * 5 * 2, dtype=np.float32).reshape(4, 6, 5, 2))
  pointer = x.unsafe_buffer_pointer()
  box = jaxmix.Box(*(jnp.int32(v) for v in (1, 4, 0, 3)))
  fn = jax.jit(lambda x, box: paste_pallas.paste_kernel(
      x, jnp.array([3, 2, 1, 0]), box, involution=True, interpret=True), donate_argnums=0)
  want = numpy_paste(np.asarray(x), np.array([3, 2, 1, 0]), [1] * 4, [4] * 4, [0] * 4,
                     [3] * 4, "NHWC")
  got = fn(x, box)
  assert x.is_deleted()
  np.testing.assert_array_equal(np.asarray(got), want)
  assert got.unsafe_buffer_pointer() == pointer
