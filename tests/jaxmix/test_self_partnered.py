"""A sample that is its own partner comes back exactly unchanged, from every op (issue 17).

Self-partnered samples: the middle of an odd `flip` group, every sample of a group of one
with `roll` (n-way Mixup's partners are all the sample itself there), the fixed points of
`permute`. Their images, label rows, masks, boxes and extras must be returned exactly
(bit for bit) in every mode and dtype; masks in the form the op returns for all samples
(integer maps where it copies pixels, one-hot rows where it blends), boxes in their own
N slots with the N partner slots empty. Also here: soft masks give the same boxes under
jit and eagerly, for every op that takes boxes.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import jaxmix

K = 5            # label classes
N = 3            # box slots per image
IGNORE = 255
DTYPES = [jnp.uint8, jnp.bfloat16, jnp.float16, jnp.float32]

# name -> (call, takes masks and boxes, takes extras)
OPS = {
    "cutmix": (functools.partial(jaxmix.cutmix, alpha=1.0), True, True),
    "cutmix-patch": (functools.partial(jaxmix.cutmix, method="patch"), True, False),
    "cutmix-minmax": (functools.partial(jaxmix.cutmix, minmax=(0.3, 0.9)), True, True),
    "mixup": (functools.partial(jaxmix.mixup, alpha=0.4), True, True),
    "mixup-3way": (functools.partial(jaxmix.mixup, num_mixed=3), False, True),
    "resizemix": (jaxmix.resizemix, True, True),
    "resizemix-bilinear": (functools.partial(jaxmix.resizemix, method="bilinear"), True, True),
    "saliencymix": (jaxmix.saliencymix, True, True),
    "fmix": (jaxmix.fmix, True, True),
    "fmix-soft": (functools.partial(jaxmix.fmix, max_soft=0.3), True, True),
    "gridmix": (functools.partial(jaxmix.gridmix, n_holes=(1, 3)), True, True),
    "smoothmix": (jaxmix.smoothmix, True, True),
    "mix-policy": (None, True, True),   # jaxmix.mix: masks but no boxes
}


def _policy(key, images, labels, *, mode, partner, num_shards, num_classes, label_smoothing,
            data_format, boxes=None, **targets):
  del boxes  # the policy refuses boxes
  config = jaxmix.MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0, num_classes=num_classes,
                            label_smoothing=label_smoothing, mode=mode, partner=partner,
                            num_shards=num_shards, data_format=data_format)
  return jaxmix.mix(key, images, labels, config, **targets)


def self_partnered(key, batch, partner, num_shards):
  """Restated: who is their own partner (the permutation is `partner_index`'s)."""
  local = batch // num_shards
  position = np.arange(batch) % local
  if partner == "flip":
    return (local % 2 == 1) & (position == local // 2)
  if partner == "roll":
    return np.full(batch, local == 1)
  index = np.asarray(jaxmix.partner_index(jax.random.split(key)[0], batch, partner, num_shards))
  return index == np.arange(batch)


def make_batch(rng, batch, height, width, dtype, data_format):
  if dtype == jnp.uint8:
    images = rng.integers(0, 256, (batch, height, width, 3))
  else:
    images = rng.normal(size=(batch, height, width, 3)) * 3
  if data_format == "NCHW":
    images = images.transpose(0, 3, 1, 2)
  masks = rng.integers(0, K, (batch, height, width)).astype(np.int32)
  masks[rng.random(masks.shape) < 0.1] = IGNORE
  x1 = rng.uniform(0, width - 1, (batch, N))
  y1 = rng.uniform(0, height - 1, (batch, N))
  coords = np.stack([x1, y1, rng.uniform(x1 + 0.5, width), rng.uniform(y1 + 0.5, height)], -1)
  coords[:, 0] = [0, 0, width, height]       # one whole-image box
  valid = rng.random((batch, N)) < 0.8
  dets = {"boxes": jnp.asarray(coords, jnp.float32), "valid": jnp.asarray(valid),
          "weights": jnp.asarray(rng.uniform(0.5, 2, (batch, N)), jnp.float32),
          "classes": jnp.asarray(rng.integers(0, K, (batch, N)), jnp.int32)}
  depth_shape = (batch, height, width, 1) if data_format == "NHWC" else (batch, 1, height, width)
  depth = jnp.asarray(rng.uniform(0, 10, depth_shape), jnp.float32)
  return jnp.asarray(images, dtype), jnp.asarray(masks), dets, depth


def layouts(batch, partner):
  """num_shards choices for a partner: roll in groups of one; flip / permute any divisor."""
  divisors = [s for s in range(1, batch + 1) if batch % s == 0]
  return [batch] if partner == "roll" else divisors


@st.composite
def cases(draw, op):
  batch = draw(st.sampled_from([1, 3, 5, 7]))
  if op == "mixup-3way":
    partner = "roll"
  else:
    partner = draw(st.sampled_from(["flip", "roll", "permute"]))
  modes = ["batch", "elem", "device"] + (["pair"] if partner == "flip" else [])
  return dict(batch=batch, partner=partner, mode=draw(st.sampled_from(modes)),
              num_shards=draw(st.sampled_from(layouts(batch, partner))),
              dtype=draw(st.sampled_from(DTYPES)),
              data_format=draw(st.sampled_from(["NHWC", "NCHW"])),
              height=6, width=8,   # fixed: eager dispatch then reuses its compiled ops
              smoothing=draw(st.sampled_from([0.0, 0.1])), seed=draw(st.integers(0, 2**31 - 1)))


def _bits(x):
  return np.asarray(jnp.asarray(x, jnp.float32)) if x.dtype == jnp.bfloat16 else np.asarray(x)


@pytest.mark.parametrize("op", sorted(OPS))
# Each example compiles afresh (new shapes, dtypes, modes): 4 per op keeps this file to a few
# of the suite's ~15 minutes on 2 cores (examples derandomized: tests/conftest.py).
@settings(max_examples=4, deadline=None)
@given(data=st.data())
def test_self_partnered_samples_come_back_exactly_unchanged(op, data):
  case = data.draw(cases(op))
  call, with_targets, with_extras = OPS[op]
  call = call or _policy
  b, fmt = case["batch"], case["data_format"]
  rng = np.random.default_rng(case["seed"])
  images, masks, dets, depth = make_batch(rng, b, case["height"], case["width"], case["dtype"],
                                          fmt)
  labels = jnp.asarray(rng.integers(0, K, b))
  key = jax.random.key(case["seed"])
  targets = {}
  if with_targets:
    targets["masks"] = masks
    if op != "mix-policy":
      targets["boxes"] = dets
  if with_extras:
    targets["extras"] = (depth,)
  out = call(key, images, labels, mode=case["mode"], partner=case["partner"],
             num_shards=case["num_shards"], num_classes=K, label_smoothing=case["smoothing"],
             data_format=fmt, **targets)
  out_images, rows, rest = out[0], out[1], list(out[2:])
  own = self_partnered(key, b, case["partner"], case["num_shards"])
  assert own.any() or case["partner"] == "permute"  # a permutation may have no fixed point
  want_rows = np.asarray(jaxmix.label_rows(labels, K, smoothing=case["smoothing"]))
  for i in np.flatnonzero(own):
    np.testing.assert_array_equal(_bits(out_images[i]), _bits(images[i]), err_msg=f"image {i}")
    np.testing.assert_array_equal(np.asarray(rows[i]), want_rows[i], err_msg=f"labels {i}")
  if "masks" in targets:
    out_masks = rest.pop(0)
    if jnp.issubdtype(out_masks.dtype, jnp.integer):
      want_masks = np.asarray(masks)
    else:  # a blend returns soft rows for every sample
      want_masks = np.asarray(jaxmix.one_hot_map(masks, K, ignore_value=IGNORE, data_format=fmt))
    for i in np.flatnonzero(own):
      np.testing.assert_array_equal(np.asarray(out_masks[i]), want_masks[i], err_msg=f"mask {i}")
  if "boxes" in targets:
    out_boxes = jax.tree.map(np.asarray, rest.pop(0))
    valid = np.asarray(dets["valid"])
    for i in np.flatnonzero(own):
      np.testing.assert_array_equal(out_boxes["valid"][i, :N], valid[i])
      np.testing.assert_array_equal(out_boxes["boxes"][i, :N][valid[i]],
                                    np.asarray(dets["boxes"])[i][valid[i]])
      np.testing.assert_array_equal(out_boxes["weights"][i, :N],
                                    np.where(valid[i], np.asarray(dets["weights"])[i], 0.0))
      np.testing.assert_array_equal(out_boxes["classes"][i, :N], np.asarray(dets["classes"])[i])
      assert not out_boxes["valid"][i, N:].any(), f"partner-slot copies of sample {i}'s boxes"
  if with_extras:
    out_depth = np.asarray(rest.pop(0))
    for i in np.flatnonzero(own):
      np.testing.assert_array_equal(out_depth[i], np.asarray(depth[i]), err_msg=f"extra {i}")
  assert not rest


# ---- the numbered cases of issue 17, each failed before its fix ------------------------------

X7 = jax.random.uniform(jax.random.key(0), (7, 12, 16, 3))
Y7 = jnp.arange(7)


def test_case1_resizemix_leaves_the_middle_of_an_odd_flip_batch_unchanged():
  out, rows = jaxmix.resizemix(jax.random.key(1), X7, Y7, num_classes=7)
  np.testing.assert_array_equal(np.asarray(out[3]), np.asarray(X7[3]))
  np.testing.assert_array_equal(np.asarray(rows[3]), np.eye(7)[3])


def test_case2_nway_mixup_with_every_partner_itself_is_exact():
  for seed in range(4):
    out, rows = jaxmix.mixup(jax.random.key(seed), X7, Y7, num_classes=7, num_mixed=3,
                             partner="roll", num_shards=7)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(X7))
    np.testing.assert_array_equal(np.asarray(rows), np.eye(7))


@pytest.mark.parametrize("op", ["fmix-soft", "smoothmix"])
@pytest.mark.parametrize("jit", [False, True])
def test_case3_soft_masks_leave_a_self_partnered_sample_exact(op, jit):
  call = OPS[op][0]
  call = jax.jit(call, static_argnames=("num_classes",)) if jit else call
  x = jax.random.normal(jax.random.key(5), (7, 16, 16, 3)) * 50
  for seed in range(12):
    out = call(jax.random.key(seed), x, Y7, num_classes=7)[0]
    np.testing.assert_array_equal(np.asarray(out[3]), np.asarray(x[3]), err_msg=f"key {seed}")


def test_case5_boxes_of_a_self_partnered_sample_are_not_cut_or_copied():
  boxes = {"boxes": jnp.tile(jnp.asarray([[[2.0, 2.0, 10.0, 8.0]]]), (7, 1, 1))}
  for op in ("cutmix", "resizemix", "fmix", "gridmix", "mixup", "smoothmix"):
    for seed in range(3):
      out = jaxmix.OPS[op](jax.random.key(seed), X7, Y7, num_classes=7, boxes=boxes)[2]
      np.testing.assert_array_equal(np.asarray(out["boxes"][3, 0]), [2.0, 2.0, 10.0, 8.0])
      np.testing.assert_array_equal(np.asarray(out["valid"][3]), [True, False], err_msg=op)
      np.testing.assert_array_equal(np.asarray(out["weights"][3]), [1.0, 0.0], err_msg=op)


# ---- soft masks: the same boxes under jit and eagerly -----------------------------------------

BOX_OPS = {
    "cutmix": jaxmix.cutmix, "mixup": jaxmix.mixup, "resizemix": jaxmix.resizemix,
    "saliencymix": jaxmix.saliencymix, "fmix": jaxmix.fmix,
    "fmix-soft": functools.partial(jaxmix.fmix, max_soft=0.3),
    "gridmix": jaxmix.gridmix, "smoothmix": jaxmix.smoothmix,
    "cutout": functools.partial(jaxmix.cutout, size=5),
}


@pytest.mark.parametrize("op", sorted(BOX_OPS))
@settings(max_examples=3, deadline=None)
@given(batch=st.sampled_from([1, 3, 8]), partner=st.sampled_from(["flip", "roll", "permute"]),
       mode=st.sampled_from(["batch", "elem"]), seed=st.integers(0, 2**31 - 1))
def test_boxes_are_the_same_under_jit_and_eagerly(op, batch, partner, mode, seed):
  rng = np.random.default_rng(seed)
  images, _, dets, _ = make_batch(rng, batch, 12, 16, jnp.float32, "NHWC")
  labels = jnp.asarray(rng.integers(0, K, batch))
  kwargs = dict(mode=mode, num_classes=K, boxes=dets)
  if op != "cutout":
    kwargs["partner"] = partner
  call = lambda k, x, y: BOX_OPS[op](k, x, y, **kwargs)
  key = jax.random.key(seed)
  eager, jitted = call(key, images, labels), jax.jit(call)(key, images, labels)
  # Which boxes are kept, and their pixel extents, are the same; corners computed in float
  # (ResizeMix's scaling) and weights (λ) may differ in the last bit, as any float op under jit.
  for name in ("valid", "classes"):
    np.testing.assert_array_equal(np.asarray(jitted[-1][name]), np.asarray(eager[-1][name]),
                                  err_msg=f"{op} {name}")
  for name in ("boxes", "weights"):
    np.testing.assert_allclose(np.asarray(jitted[-1][name]), np.asarray(eager[-1][name]),
                               rtol=1e-6, atol=1e-5, err_msg=f"{op} {name}")


@pytest.mark.parametrize("mode", ["batch", "elem"])
def test_case4_soft_fmix_pixels_that_show_are_the_same_under_jit(mode):
  """A box per pixel: it is kept exactly where its pixel shows (weight > 0). Under jit the
  last ramp pixel had weight ~4e-9 instead of 0, so it showed (and moved box edges)."""
  height, width = 8, 12      # elem mode, keys 0, 6, 7 differed before the fix
  ys, xs = np.mgrid[:height, :width]
  pixels = np.stack([xs, ys, xs + 1, ys + 1], -1).reshape(1, -1, 4).astype(np.float32)
  dets = {"boxes": jnp.asarray(np.repeat(pixels, 8, axis=0))}
  x = jax.random.uniform(jax.random.key(0), (8, height, width, 3))
  call = lambda k: jaxmix.fmix(k, x, jnp.arange(8), num_classes=8, partner="roll",
                               max_soft=0.3, mode=mode, boxes=dets, min_visible=0.0)[2]
  jitted = jax.jit(call)
  for seed in range(8):
    eager_boxes, jit_boxes = call(jax.random.key(seed)), jitted(jax.random.key(seed))
    np.testing.assert_array_equal(np.asarray(jit_boxes["valid"]), np.asarray(eager_boxes["valid"]),
                                  err_msg=f"key {seed}")
    np.testing.assert_array_equal(np.asarray(jit_boxes["boxes"]), np.asarray(eager_boxes["boxes"]),
                                  err_msg=f"key {seed}")


@pytest.mark.parametrize("jit", [False, True])
def test_soft_mask_weights_below_resolution_are_zero(jit):
  binarise = lambda image: jaxmix.binarise_mask(image, 0.5, max_soft=0.3)
  binarise = jax.jit(binarise) if jit else binarise
  values = np.asarray(binarise(jax.random.uniform(jax.random.key(0), (12, 16))))
  assert not np.any((values > 0) & (values < 1e-6)) and not np.any((values < 1) & (values > 1 - 1e-6))
  ramp = np.sort(values[(values > 0) & (values < 1)])
  assert ramp.size and ramp[0] > 1e-3   # the last ramp pixel is exactly 0, not ~4e-9
