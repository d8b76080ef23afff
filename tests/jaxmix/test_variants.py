"""Every variant through `jaxmix.OPS`: dtypes, bad options, extras and dict keys,
traces; SmoothMix against openmixup's kernel."""

import pathlib
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmix
from jaxmix._src import smoothmix
from tests.jaxmix.variant_utils import coded


@pytest.mark.parametrize("op", ["resizemix", "saliencymix", "fmix", "gridmix"])
def test_variants_keep_uint8_and_refuse_bad_options(op):
  images = jnp.asarray(np.random.default_rng(0).integers(0, 256, (4, 9, 9, 3)), jnp.uint8)
  out, rows = jax.jit(lambda k, x: jaxmix.OPS[op](k, x, jnp.arange(4), num_classes=4,
                                                  mode="elem"))(jax.random.key(0), images)
  assert out.dtype == jnp.uint8 and out.shape == images.shape
  np.testing.assert_allclose(np.asarray(rows).sum(1), 1.0, atol=1e-6)
  with pytest.raises(ValueError, match="mode"):
    jaxmix.OPS[op](jax.random.key(0), images, jnp.arange(4), num_classes=4, mode="bogus")
  bad = {"resizemix": {"scale": (0.9, 0.1)}, "saliencymix": {"alpha": -1.0},
         "fmix": {"max_soft": 0.7}, "gridmix": {"n_holes": (0, 2)}}[op]
  with pytest.raises(ValueError, match=list(bad)[0]):
    jaxmix.OPS[op](jax.random.key(0), images, jnp.arange(4), num_classes=4, **bad)


def test_docs_variants_snippet_runs():
  page = pathlib.Path(__file__).resolve().parents[2] / "docs" / "guide" / "variants.md"
  match = re.search(r"<!-- VARIANTS -->\n```python\n(.*?)```\n<!-- /VARIANTS -->",
                    page.read_text(), re.S)
  assert match, f"{page} has no VARIANTS block"
  namespace = {}
  exec(compile(match.group(1), str(page), "exec"), namespace)
  assert namespace["dets_out"]["boxes"].shape == (8, 2, 4)
  assert namespace["batch"]["mask"].shape == (8, 32, 32, 10)
  assert namespace["seg_out"].dtype == jnp.int32


@pytest.mark.parametrize("op", ["saliencymix", "fmix", "gridmix"])
def test_traced_invalid_alpha_gives_nan_rows_not_a_silent_no_op(op):
  images = coded(2, 8, 8)
  rows = jax.jit(lambda a: jaxmix.OPS[op](jax.random.key(0), images, jnp.arange(2),
                                          num_classes=2, alpha=a)[1])(-1.0)
  assert np.isnan(np.asarray(rows)).all()


@pytest.mark.parametrize("op", ["cutmix", "mixup", "resizemix", "saliencymix", "fmix",
                                "gridmix"])
def test_extras_and_dict_keys_are_mixed_alike_and_named(op):
  images = coded(4, 8, 8)
  code = jnp.arange(4 * 64, dtype=jnp.int32).reshape(4, 8, 8)
  batch = {"rgb": images, "view2": images * 2.0, "y": jnp.arange(4), "seg": code,
           "id": jnp.asarray([7, 8, 9, 10])}
  key = jax.random.key(6)
  out = jaxmix.mix_dict(key, batch, op=op, image_key=("rgb", "view2"), label_key="y",
                        mask_key="seg", boxes_key=None, num_classes=4, mode="elem")
  assert set(out) == set(batch)
  np.testing.assert_allclose(np.asarray(out["view2"]), 2.0 * np.asarray(out["rgb"]), rtol=1e-6)
  assert out["id"] is batch["id"]  # not named: passed through
  x, y, seg = jaxmix.OPS[op](key, images, jnp.arange(4), num_classes=4, mode="elem",
                             masks=code)
  np.testing.assert_array_equal(np.asarray(out["rgb"]), np.asarray(x))
  np.testing.assert_array_equal(np.asarray(out["y"]), np.asarray(y))
  with pytest.raises(ValueError, match="no key 'image'"):
    jaxmix.mix_dict(key, {"rgb": images, "label": jnp.arange(4)}, op=op, num_classes=4)
  with pytest.raises(ValueError, match="op must be one of"):
    jaxmix.mix_dict(key, batch, op="puzzlemix", image_key="rgb", label_key="y")


def test_jitted_ops_with_targets_do_not_retrace_for_new_alpha():
  images, code = coded(4, 8, 8), jnp.arange(4 * 64, dtype=jnp.int32).reshape(4, 8, 8)
  dets = {"boxes": jnp.tile(jnp.asarray([[1.0, 1.0, 6.0, 7.0]]), (4, 1, 1))}

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(key, alpha):
    return jaxmix.OPS["fmix"](key, images, jnp.arange(4), num_classes=4, alpha=alpha,
                              masks=code, boxes=dets, mode="elem")

  for i, alpha in enumerate([0.5, 1.0, 2.0]):
    out = step(jax.random.key(i), jnp.float32(alpha))
    assert out[3]["boxes"].shape == (4, 2, 4)


def ref_openmixup_kernel(size, rand_w, rand_h, sigma):
  """openmixup `smoothmix`'s `gaussian_kernel` (square images), restated in NumPy."""
  s = size * 2
  x_grid = np.tile(np.arange(s), (s, 1))
  grid = np.stack([x_grid, x_grid.T], axis=-1).astype(np.float64)
  grid = np.roll(np.roll(grid, rand_w, 0), rand_h, 1)
  crop = s // 4
  grid = grid[crop:s - crop, crop:s - crop]
  mean = (s - 1) / 2
  return np.exp(-np.sum((grid - mean) ** 2, axis=-1) / (2 * sigma ** 2))


def test_smoothmix_blob_is_openmixups_kernel_and_labels_are_its_share():
  h = 12
  images = coded(2, h, h)
  key = jax.random.key(2)
  out, rows = jaxmix.smoothmix(key, images, jnp.arange(2), num_classes=2, mode="batch")
  # Batch mode: row 0 of the key's words; the gate word 0, the centre words 1-4,
  # σ / H word 5 (a uniform ((w >> 9) + ½)·2⁻²³ scaled to (0.25, 0.5)).
  key_params = key
  iy, ix = (int(v) for v in jaxmix.sample_centre(key_params, h, h, offset=1))
  word = int(jaxmix.random_words(key_params, 1, 1, offset=5)[0, 0])
  sigma = (0.25 + 0.25 * ((word >> 9) + 0.5) * 2.0 ** -23) * h
  # openmixup draws rand_w = randint(0, w) - w / 2 and rolls the grid's rows by it.
  g = ref_openmixup_kernel(h, iy - h // 2, ix - h // 2, sigma)
  x = np.asarray(images, np.float64)
  want = x * (1 - g[None, :, :, None]) + x[::-1] * g[None, :, :, None]
  np.testing.assert_allclose(np.asarray(out), want, rtol=1e-5, atol=1e-2)
  np.testing.assert_allclose(np.asarray(rows)[[0, 1], [0, 1]], 1 - g.mean(), atol=1e-6)
  g_ours, lam = smoothmix.sample_mask(jax.random.key(0), 5, 9)
  assert g_ours.shape == (5, 9) and 0 < float(lam) < 1
