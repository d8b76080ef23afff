"""Property tests of the mixing ops: invariants over random shapes, dtypes, modes and keys."""

import functools
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized
from hypothesis import given, strategies as st

import jaxmix

DTYPES = [jnp.uint8, jnp.bfloat16, jnp.float16, jnp.float32]
MODE_PARTNERS = [("batch", "flip"), ("batch", "roll"), ("batch", "permute"),
                 ("elem", "flip"), ("elem", "roll"), ("elem", "permute"), ("pair", "flip")]


def _distinct_batch(batch, height, width, channels, dtype, data_format="NHWC"):
  """Image i is constant i + 1 (+ a per-pixel pattern for floats), so each pixel's source is known."""
  base = np.arange(1, batch + 1, dtype=np.float32)[:, None, None, None]
  images = np.broadcast_to(base, (batch, height, width, channels))
  if data_format == "NCHW":
    images = images.transpose(0, 3, 1, 2)
  return jnp.asarray(images, dtype)


@st.composite
def batches(draw, even=False):
  batch = draw(st.integers(1, 6))
  if even:
    batch = 2 * max(1, batch // 2)
  return dict(batch=batch, height=draw(st.integers(1, 12)), width=draw(st.integers(1, 12)),
              channels=draw(st.sampled_from([1, 3])), dtype=draw(st.sampled_from(DTYPES)),
              seed=draw(st.integers(0, 2**31 - 1)),
              data_format=draw(st.sampled_from(["NHWC", "NCHW"])))


def _source_and_partner(images, out, key, partner, num_shards=1):
  """Per pixel: True where the output came from the partner (images are distinct constants)."""
  b = images.shape[0]
  idx = np.asarray(jaxmix.partner_index(jax.random.split(key)[0], b, partner, num_shards))
  x, o = np.asarray(images, np.float32), np.asarray(out, np.float32)
  return idx, x, o


@given(batches(), st.sampled_from(MODE_PARTNERS), st.sampled_from([True, False]))
def test_cutmix_pixels_come_from_the_two_sources_and_area_matches_lam(
    spec, mode_partner, correct_lam):
  mode, partner = mode_partner
  if mode == "pair" and spec["batch"] % 2:
    spec["batch"] += 1
  b, fmt = spec["batch"], spec["data_format"]
  images = _distinct_batch(b, spec["height"], spec["width"], spec["channels"], spec["dtype"], fmt)
  labels = jnp.arange(b)
  key = jax.random.key(spec["seed"])
  cutmix = jax.jit(functools.partial(jaxmix.cutmix, num_classes=max(b, 2), mode=mode,
                                     partner=partner, correct_lam=correct_lam, data_format=fmt))
  out, rows = cutmix(key, images, labels)
  assert out.dtype == images.dtype and out.shape == images.shape
  rows = np.asarray(rows, np.float64)
  np.testing.assert_allclose(rows.sum(1), 1.0, atol=1e-6)
  idx, x, o = _source_and_partner(images, out, key, partner)
  partner_x = x[idx]
  assert np.all((o == x) | (o == partner_x)), "a pixel came from neither source"
  spatial = (1, 2) if fmt == "NHWC" else (2, 3)
  from_partner = np.all(o == partner_x, axis=3 if fmt == "NHWC" else 1) & np.any(
      o != x, axis=3 if fmt == "NHWC" else 1)
  for i in range(b):
    expected = np.zeros(max(b, 2))
    if idx[i] == i:  # mixing with itself changes nothing
      expected[i] = 1.0
      np.testing.assert_array_equal(o[i], x[i])
      np.testing.assert_allclose(rows[i], expected, atol=1e-6)
      continue
    lam = rows[i, i]
    expected[i], expected[idx[i]] = lam, 1 - lam
    np.testing.assert_allclose(rows[i], expected, atol=1e-6)
    if correct_lam:
      np.testing.assert_allclose(from_partner[i].mean(), 1.0 - lam, atol=1e-6)
  del spatial


@given(batches(), st.sampled_from(MODE_PARTNERS))
def test_mixup_is_the_convex_blend_of_the_pair(spec, mode_partner):
  mode, partner = mode_partner
  if mode == "pair" and spec["batch"] % 2:
    spec["batch"] += 1
  b, dtype = spec["batch"], spec["dtype"]
  rng = np.random.RandomState(spec["seed"] % 2**32)
  shape = (b, spec["height"], spec["width"], spec["channels"])
  raw = rng.randint(0, 256, shape) if dtype == jnp.uint8 else rng.rand(*shape)
  images = jnp.asarray(raw, dtype)
  key = jax.random.key(spec["seed"])
  mixup = jax.jit(functools.partial(jaxmix.mixup, num_classes=max(b, 2), mode=mode,
                                    partner=partner))
  out, rows = mixup(key, images, jnp.arange(b))
  assert out.dtype == images.dtype
  idx, x, o = _source_and_partner(images, out, key, partner)
  rows = np.asarray(rows, np.float64)
  np.testing.assert_allclose(rows.sum(1), 1.0, atol=1e-6)
  for i in range(b):
    tol = {jnp.uint8: 0.5 + 1e-3, jnp.bfloat16: 1e-2, jnp.float16: 1e-3, jnp.float32: 1e-6}[dtype]
    if idx[i] == i:  # x·λ + x·(1 − λ): x up to rounding
      np.testing.assert_allclose(o[i], x[i], atol=tol, rtol=0)
      continue
    lam = rows[i, i]
    want = lam * x[i] + (1 - lam) * x[idx[i]]
    np.testing.assert_allclose(o[i], want, atol=tol, rtol=0)


class DeterminismTest(parameterized.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(*MODE_PARTNERS)
  def test_same_key_same_output_and_jit_equals_eager(self, mode, partner):
    images = jnp.asarray(np.random.RandomState(0).randint(0, 256, (6, 9, 7, 3)), jnp.uint8)
    labels = jnp.array([0, 1, 2, 3, 4, 0])
    config = jaxmix.MixConfig(num_classes=5, mode=mode, partner=partner, mixup_alpha=1.0)
    mix = self.variant(jaxmix.mix)
    a = mix(jax.random.key(7), images, labels, config)
    b = mix(jax.random.key(7), images, labels, config)
    reference = jax.jit(jaxmix.mix)(jax.random.key(7), images, labels, config)
    chex.assert_trees_all_equal(a, b)
    chex.assert_trees_all_close(a, reference, atol=1e-6)
    outs = [mix(jax.random.key(s), images, labels, config)[0] for s in range(4)]
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])

  @chex.variants(with_jit=True, without_jit=True)
  def test_cutout_and_erasing_deterministic(self):
    images = jnp.asarray(np.random.RandomState(1).rand(4, 10, 10, 3), jnp.float32)
    cut = self.variant(lambda k, x: jaxmix.cutout(k, x, size=4))
    erase = self.variant(lambda k, x: jaxmix.random_erasing(k, x, prob=1.0))
    chex.assert_trees_all_equal(cut(jax.random.key(0), images), cut(jax.random.key(0), images))
    chex.assert_trees_all_equal(erase(jax.random.key(0), images), erase(jax.random.key(0), images))
    assert not np.array_equal(cut(jax.random.key(0), images), cut(jax.random.key(1), images))


def test_vmapped_single_op_equals_elem_mode():
  images = jnp.asarray(np.random.RandomState(2).randint(0, 256, (8, 16, 12, 3)), jnp.uint8)
  key = jax.random.key(11)
  out, rows = jaxmix.cutmix(key, images, jnp.arange(8), num_classes=8, mode="elem",
                            partner="roll")
  key_partner, _ = jax.random.split(key)
  partner_images = jaxmix.gather_partners(images, key_partner, "roll")
  # The documented rule: cutmix_single(key, x[i], partner of i, index=i) is row i.
  single = jax.vmap(lambda i, x, p: jaxmix.cutmix_single(key, x, p, index=i))
  out_v, lam_v = single(jnp.arange(8), images, partner_images)
  np.testing.assert_array_equal(out, out_v)
  np.testing.assert_allclose(np.asarray(rows)[np.arange(8), np.arange(8)], lam_v, atol=1e-7)
  for i in (0, 5):  # unbatched, a Python index
    one, lam = jaxmix.cutmix_single(key, images[i], partner_images[i], index=i)
    np.testing.assert_array_equal(out[i], one)
  # Power: another index draws another box for the same pair.
  others = [jaxmix.cutmix_single(key, images[0], partner_images[0], index=j)[0]
            for j in range(1, 8)]
  assert any(not np.array_equal(out[0], o) for o in others)


@pytest.mark.parametrize("op", ["cutmix", "mixup"])
def test_nchw_equals_transposed_nhwc(op):
  nhwc = jnp.asarray(np.random.RandomState(3).rand(4, 6, 9, 3), jnp.float32)
  nchw = nhwc.transpose(0, 3, 1, 2)
  f = getattr(jaxmix, op)
  a, ra = f(jax.random.key(5), nhwc, jnp.arange(4), num_classes=4, mode="elem")
  b, rb = f(jax.random.key(5), nchw, jnp.arange(4), num_classes=4, mode="elem", data_format="NCHW")
  np.testing.assert_array_equal(a, b.transpose(0, 2, 3, 1))
  np.testing.assert_array_equal(ra, rb)


def test_batch_of_one_is_identity():
  images = jnp.asarray(np.random.RandomState(4).randint(0, 256, (1, 8, 8, 3)), jnp.uint8)
  for fn in (jaxmix.cutmix, jaxmix.mixup):
    out, rows = fn(jax.random.key(0), images, jnp.array([2]), num_classes=3, mode="elem")
    np.testing.assert_array_equal(out, images)  # uint8 mixup rounds x·λ + x·(1 − λ) back to x
    np.testing.assert_allclose(rows, [[0.0, 0.0, 1.0]], atol=1e-7)


def test_soft_label_rows_are_mixed_and_smoothed():
  rows_in = jnp.asarray([[0.7, 0.3, 0.0], [0.0, 0.0, 1.0]], jnp.float32)
  images = jnp.zeros((2, 4, 4, 1))
  _, rows = jaxmix.mixup(jax.random.key(0), images, rows_in, mode="batch", label_smoothing=0.3)
  smoothed = np.asarray(rows_in) * 0.7 + 0.1
  lam = (np.asarray(rows)[0] - smoothed[1]) / (smoothed[0] - smoothed[1])
  assert np.allclose(lam, lam[0], atol=1e-5) and 0 <= lam[0] <= 1
  np.testing.assert_allclose(np.asarray(rows)[1], lam[0] * smoothed[1] + (1 - lam[0]) * smoothed[0],
                             atol=1e-6)


def test_label_smoothing_values():
  rows = np.asarray(jaxmix.one_hot(jnp.array([0, 3]), 4, smoothing=0.2))
  np.testing.assert_allclose(rows[0], [0.85, 0.05, 0.05, 0.05], atol=1e-7)
  np.testing.assert_allclose(rows.sum(1), 1.0, atol=1e-6)


@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_cutout_erases_exactly_the_clipped_square(height, width, size, seed):
  images = jnp.ones((3, height, width, 2), jnp.uint8) * 200
  out = np.asarray(jax.jit(functools.partial(jaxmix.cutout, size=size, fill=7))(
      jax.random.key(seed), images))
  # cutout's elem draw: row i of the words of its key; the centre from word 1 on.
  centres = jaxmix.sample_centre(jax.random.key(seed), height, width, (3,), offset=1)
  for i in range(3):
    cy, cx = int(centres[0][i]), int(centres[1][i])
    half = size // 2
    y1, y2 = np.clip([cy - half, cy + half], 0, height)
    x1, x2 = np.clip([cx - half, cx + half], 0, width)
    want = np.full((height, width, 2), 200, np.uint8)
    want[y1:y2, x1:x2] = 7
    np.testing.assert_array_equal(out[i], want)


def test_random_erasing_region_is_a_rectangle_within_ranges():
  images = jnp.full((64, 20, 30, 3), 100, jnp.uint8)
  out = np.asarray(jaxmix.random_erasing(jax.random.key(0), images, prob=0.5, fill=0,
                                         area=(0.05, 0.3), aspect=(0.5, 2.0)))
  erased_count = 0
  for img in out:
    hole = img[..., 0] == 0
    assert np.all((img == 0) | (img == 100))
    if not hole.any():
      continue
    erased_count += 1
    ys, xs = np.nonzero(hole)
    h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    assert hole.sum() == h * w, "erased region is not a rectangle"
    assert 0.05 * 600 - 0.5 * (h + w) - 1 <= h * w <= 0.3 * 600 + 0.5 * (h + w) + 1
    assert 0.5 / 1.5 <= h / w <= 2.0 * 1.5
  assert 16 <= erased_count <= 48  # prob 0.5 over 64 images


def test_policy_prob_zero_leaves_batch_untouched_and_smooths_labels():
  images = jnp.asarray(np.random.RandomState(5).randint(0, 256, (4, 8, 8, 3)), jnp.uint8)
  config = jaxmix.MixConfig(num_classes=4, prob=0.0, label_smoothing=0.1, mode="elem")
  out, rows = jax.jit(jaxmix.mix)(jax.random.key(0), images, jnp.arange(4), config)
  np.testing.assert_array_equal(out, images)
  np.testing.assert_allclose(rows, jaxmix.one_hot(jnp.arange(4), 4, smoothing=0.1), atol=1e-7)


def test_no_nan_for_extreme_alpha():
  images = jnp.asarray(np.random.RandomState(6).rand(64, 8, 8, 3), jnp.float32)
  for alpha in (1e-3, 0.05, 100.0):
    for fn in (jaxmix.cutmix, jaxmix.mixup):
      out, rows = fn(jax.random.key(1), images, jnp.arange(64) % 10, num_classes=10, alpha=alpha,
                     mode="elem")
      assert np.isfinite(np.asarray(out)).all() and np.isfinite(np.asarray(rows)).all()
      np.testing.assert_allclose(np.asarray(rows).sum(1), 1.0, atol=1e-5)


# ---------------------------------------------------------------------------
# Odd batch sizes in every mode (issue 7): timm refuses them, torchvision self-pairs.
# jaxmix's rule: partners are chosen as for any batch (flip pairs the middle of an
# odd group with itself, roll pairs i with i − 1, permute may have fixed points); a
# sample that is its own partner comes back exactly unchanged, with its own label row.
# ---------------------------------------------------------------------------

_ODD_CASES = [
    # (op, mode, partner, batch, num_shards)
    ("cutmix", "batch", "flip", 5, 1), ("cutmix", "elem", "flip", 3, 1),
    ("cutmix", "pair", "flip", 5, 1), ("cutmix", "pair", "flip", 6, 2),
    ("cutmix", "device", "roll", 6, 2), ("cutmix", "host", "permute", 7, 1),
    ("cutmix", "sample", "permute", 5, 1), ("mixup", "batch", "flip", 3, 1),
    ("mixup", "elem", "flip", 7, 1), ("mixup", "pair", "flip", 3, 1),
    ("mixup", "device", "flip", 9, 3), ("mixup", "elem", "permute", 5, 1),
    ("mixup", "elem", "roll", 1, 1), ("mix", "pair", "flip", 7, 1),
    ("mix", "elem", "flip", 5, 1), ("mix", "device", "flip", 6, 2),
]


@pytest.mark.parametrize("op, mode, partner, batch, num_shards", _ODD_CASES)
# uint8 (the dtype-keeping path) in the default run; float32 repeats every case (slow).
@pytest.mark.parametrize("dtype", [jnp.uint8, pytest.param(jnp.float32, marks=pytest.mark.slow)])
def test_odd_batches_self_pairs_are_unchanged_and_the_rest_mix(op, mode, partner, batch,
                                                               num_shards, dtype):
  rng = np.random.RandomState(batch * 7 + num_shards)
  images = jnp.asarray(rng.randint(1, 255, (batch, 6, 5, 3)), dtype)
  if dtype == jnp.float32:
    images = images / 255.0 + jnp.asarray(rng.rand(batch, 6, 5, 3), jnp.float32)
  labels = jnp.arange(batch) % 4
  key = jax.random.key(batch)
  common = dict(mode=mode, partner=partner, num_classes=4, num_shards=num_shards)
  if op == "cutmix":
    out, rows = jaxmix.cutmix(key, images, labels, **common)
  elif op == "mixup":
    out, rows = jaxmix.mixup(key, images, labels, alpha=0.5, **common)
  else:
    config = jaxmix.MixConfig(mixup_alpha=0.8, cutmix_alpha=1.0, **common)
    out, rows = jaxmix.mix(key, images, labels, config)
  assert out.shape == images.shape and out.dtype == images.dtype
  rows, out, x = np.asarray(rows), np.asarray(out), np.asarray(images)
  np.testing.assert_allclose(rows.sum(1), 1.0, atol=1e-6)
  idx = np.asarray(jaxmix.partner_index(jax.random.split(key)[0], batch, partner, num_shards))
  own = np.eye(4, dtype=np.float32)[np.asarray(labels)]
  selfish = idx == np.arange(batch)
  if partner == "flip" and (batch // num_shards) % 2:
    assert selfish.sum() == num_shards  # the middle of each odd group
  for i in np.flatnonzero(selfish):
    np.testing.assert_array_equal(out[i], x[i])
    np.testing.assert_array_equal(rows[i], own[i])
  # The others really mix: some change, and every row weighs only the two labels.
  others = np.flatnonzero(~selfish)
  for i in others:
    support = {int(labels[i]), int(labels[idx[i]])}
    assert set(np.flatnonzero(rows[i] > 1e-7).tolist()) <= support
  if len(others):
    assert any(not np.array_equal(out[i], x[i]) for i in others)
  if mode == "pair":  # i and its flip partner share λ: their own-label weights swap
    for i in others:
      j = idx[i]
      if labels[i] != labels[j]:
        np.testing.assert_allclose(rows[i, labels[i]], rows[j, labels[j]], atol=1e-6)


@pytest.mark.parametrize("op", ["cutmix", "mixup"])
def test_granularity_draws_one_value_per_group(op):
  """device: one λ per shard (constant inside, different across); host: one per host
  (this single-process run: one for all); sample: the same draws as elem."""
  batch, shards = 12, 4
  images = jnp.asarray(np.random.RandomState(0).rand(batch, 8, 8, 3), jnp.float32)
  labels = jnp.arange(batch) % 12
  f = getattr(jaxmix, op)
  lam = lambda rows: np.asarray(rows)[np.arange(batch), np.asarray(labels)]
  # CutMix's area-corrected λ takes few values on 8×8; the drawn λ shows the groups.
  extra = dict(correct_lam=False) if op == "cutmix" else {}
  def rows_for(mode):
    return f(jax.random.key(3), images, labels, mode=mode, partner="roll", num_classes=12,
             num_shards=shards, **extra)[1]
  by_device = lam(rows_for("device")).reshape(shards, batch // shards)
  assert np.allclose(by_device, by_device[:, :1]) and len(np.unique(by_device[:, 0])) == shards
  by_host = lam(rows_for("host"))
  assert np.allclose(by_host, by_host[0]) and by_host[0] < 1
  for a, b in zip(f(jax.random.key(3), images, labels, mode="sample", num_classes=12),
                  f(jax.random.key(3), images, labels, mode="elem", num_classes=12)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


class NWayAndOddBatchVariantsTest(parameterized.TestCase):
  """The new paths behave the same jitted and not (chex variants)."""

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(("cutmix",), ("mixup",))
  def test_pair_mode_odd_batch_middle_is_unchanged(self, op):
    images = jnp.asarray(np.random.RandomState(1).rand(5, 6, 6, 3), jnp.float32)
    labels = jnp.arange(5)
    f = self.variant(functools.partial(getattr(jaxmix, op), mode="pair", num_classes=5))
    out, rows = f(jax.random.key(4), images, labels)
    chex.assert_trees_all_equal(out[2], images[2])
    chex.assert_trees_all_equal(rows[2], jnp.eye(5)[2])
    # The pairs (0, 4) and (1, 3) share λ: each keeps the same weight of its own label.
    rows = np.asarray(rows)
    np.testing.assert_allclose(rows[0, 0], rows[4, 4], atol=1e-6)
    np.testing.assert_allclose(rows[1, 1], rows[3, 3], atol=1e-6)
    assert rows[0, 0] < 1 and rows[1, 1] < 1

  @chex.variants(with_jit=True, without_jit=True)
  def test_n_way_mixup_rows_are_convex_over_the_rolled_labels(self):
    batch, n = 7, 3
    images = jnp.asarray(np.random.RandomState(2).rand(batch, 4, 4, 1), jnp.float32)
    labels = jnp.arange(batch)
    f = self.variant(functools.partial(jaxmix.mixup, num_mixed=n, partner="roll",
                                       num_classes=batch, alpha=0.5))
    out, rows = f(jax.random.key(0), images, labels)
    rows = np.asarray(rows)
    for i in range(batch):
      support = {(i - k) % batch for k in range(n)}
      assert set(np.flatnonzero(rows[i] > 0).tolist()) <= support
      assert rows[i, i] == rows[i].max()  # the image keeps the largest weight
      # The pixels are the same convex combination as the labels.
      want = sum(rows[i, (i - k) % batch] * np.asarray(images)[(i - k) % batch]
                 for k in range(n))
      np.testing.assert_allclose(np.asarray(out[i]), want, atol=1e-5)


def test_docs_parity_snippet_runs_and_matches_the_global_call():
  """The sharding guide's shard_map example runs (on this machine's devices) and equals the
  global computation with num_shards = number of devices."""
  import pathlib
  import re
  page = pathlib.Path(__file__).resolve().parents[2] / "docs" / "guide" / "sharding.md"
  text = page.read_text()
  snippet = re.search(r"<!-- PARITY -->\n```python\n(.*?)```\n<!-- /PARITY -->", text, re.S)
  assert snippet, f"{page} has no PARITY block"
  devices = len(jax.devices())
  images = jnp.asarray(np.random.RandomState(0).rand(4 * devices, 6, 6, 3), jnp.float32)
  multi_hot = jnp.asarray(np.random.RandomState(1).rand(4 * devices, 5) < 0.5)
  namespace = {"jax": jax, "jaxmix": jaxmix, "key": jax.random.key(0), "images": images,
               "multi_hot": multi_hot}
  exec(compile(snippet.group(1), str(page), "exec"), namespace)
  want = jaxmix.mixup(jax.random.key(0), images, multi_hot, num_mixed=3, partner="roll",
                      mode="device", multi_label=True, label_smoothing=0.1, num_shards=devices)
  np.testing.assert_allclose(np.asarray(namespace["mixed"]), np.asarray(want[0]), atol=1e-6)
  np.testing.assert_allclose(np.asarray(namespace["targets"]), np.asarray(want[1]), atol=1e-6)
  assert not np.allclose(np.asarray(namespace["targets"]), 0.95 * np.asarray(multi_hot) + 0.05)
