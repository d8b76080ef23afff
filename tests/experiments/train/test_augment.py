"""The train step's augment function against NumPy re-statements: mix → normalize → Cutout.

Partners with `mix_partner="flip"` are the reversed batch (timm's convention), so every expected
output below is computed in NumPy from the input batch and the λ that the label rows report.
"""

import functools
import types

import jax
import jax.numpy as jnp
import jaxmix
import numpy as np
import pytest

from experiments.train import augment
from experiments.train import classification
from experiments import train
from experiments.configs import test as test_config

# Non-integer mean: a normalized pixel is never exactly 0 by chance (Cutout fills 0).
MEAN, STD = (127.3, 120.7, 110.1), (64.0, 60.5, 70.25)
INFO = types.SimpleNamespace(num_classes=10, image_shape=(16, 16, 3), mean=MEAN, std=STD)
B = 8


def batch(seed=0):
  rng = np.random.default_rng(seed)
  return (rng.integers(0, 256, (B, 16, 16, 3), dtype=np.uint8),
          np.arange(B, dtype=np.int32))   # Distinct labels: λ is readable from every row.


def np_normalize(images):
  return (images.astype(np.float32) - np.float32(MEAN)) / np.float32(STD)


def run(mix, key=0, **overrides):
  config = test_config.get_config()
  config.mix, config.mix_mode, config.mix_partner = mix, "elem", "flip"
  for k, v in overrides.items():
    config[k] = v
  images, labels = batch()
  fn = jax.jit(augment.make_augment_fn(config, INFO))
  x, rows = fn(jax.random.key(key), images, labels)
  return images, labels, np.asarray(x), np.asarray(rows)


def lam_of(rows, labels):
  """λ of each row: the weight of its own label (partner = reversed batch)."""
  return rows[np.arange(B), labels]


def test_no_mix_is_normalization_and_smoothed_one_hot():
  images, labels, x, rows = run("none", label_smoothing=0.1)
  np.testing.assert_allclose(x, np_normalize(images), rtol=1e-6, atol=1e-6)
  # timm's convention: off = ε / K, on = 1 - ε + ε / K.
  want = np.full((B, 10), 0.1 / 10, np.float32)
  want[np.arange(B), labels] = 1 - 0.1 + 0.1 / 10
  np.testing.assert_allclose(rows, want, rtol=1e-6)


@pytest.mark.parametrize("key", [0, 1, 2])
def test_cutmix_copies_a_box_of_partner_pixels_of_area_one_minus_lambda(key):
  images, labels, x, rows = run("cutmix", key=key)
  pixels = np.round(x * np.float32(STD) + np.float32(MEAN))
  np.testing.assert_allclose(x * np.float32(STD) + np.float32(MEAN), pixels, atol=2e-3)
  partner = images[::-1]
  lam = lam_of(rows, labels)
  np.testing.assert_allclose(rows[np.arange(B), labels[::-1]], 1 - lam, atol=1e-6)
  mixed = 0
  for i in range(B):
    own = np.all(pixels[i] == images[i], axis=-1)
    other = np.all(pixels[i] == partner[i], axis=-1)
    assert np.all(own | other), "a pixel is neither the image's nor its partner's"
    box = other & ~own
    if box.any():
      ys, xs = np.nonzero(box)
      # The copied region is one axis-aligned rectangle, filled completely...
      rect = np.zeros_like(box)
      rect[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
      np.testing.assert_array_equal(box | (rect & own & other), rect)
      # ...whose area is 1 - λ of the image (correct_lam: λ from the clipped box).
      assert rect.mean() == pytest.approx(1 - lam[i], abs=1e-6)
      mixed += 1
    else:
      assert lam[i] == pytest.approx(1.0)
  assert mixed >= B // 2


def test_mixup_blends_pixels_with_the_lambda_of_the_label_rows():
  images, labels, x, rows = run("mixup")
  lam = lam_of(rows, labels)[:, None, None, None]
  blend = lam * images.astype(np.float32) + (1 - lam) * images[::-1].astype(np.float32)
  np.testing.assert_allclose(x, np_normalize(blend), rtol=1e-5, atol=1e-5)
  assert np.all((lam > 0.01) & (lam < 0.99)) or np.any(np.abs(lam - 0.5) < 0.49)
  np.testing.assert_allclose(rows.sum(-1), 1.0, rtol=1e-6)


def test_cutout_zeroes_a_square_after_normalization():
  images, labels, x, rows = run("cutout", cutout_size=8)
  want = np_normalize(images)
  np.testing.assert_array_equal(rows, np.eye(10, dtype=np.float32)[labels])
  for i in range(B):
    hole = np.all(x[i] == 0.0, axis=-1)
    np.testing.assert_allclose(x[i][~hole], want[i][~hole], rtol=1e-6, atol=1e-6)
    ys, xs = np.nonzero(hole)
    assert len(ys) >= 16, "no hole"   # The centre is inside: at least a quarter of 8x8.
    h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    assert h <= 8 and w <= 8 and hole.sum() == h * w   # One clipped square.


def test_augment_fn_does_not_read_the_config_after_it_is_built():
  config = test_config.get_config()
  config.mix = "cutout"
  fn = augment.make_augment_fn(config, INFO)
  images, labels = batch()
  config.mix, config.cutout_size = "none", 2   # Must not change the traced function.
  x, _ = jax.jit(fn)(jax.random.key(0), images, labels)
  assert np.sum(np.all(np.asarray(x) == 0, axis=-1)) >= 16 * B


def one_step(mix, bf16=False):
  """Parameters after one train step with `mix` from the same init, batch and key."""
  config = test_config.get_config()
  config.mix, config.half_precision = mix, bf16
  tx = train.make_optimizer(config, train.make_schedule(config, 10, 100))
  graphdef, _, state = train.create_train_state(config, INFO, tx, jax.random.key(0))
  step = jax.jit(functools.partial(train.train_step, graphdef=graphdef, tx=tx,
                                   prepare=classification.prepare_from(
                                       augment.make_augment_fn(config, INFO))))
  images, labels = batch()
  state, metrics = step(state, {"image": images, "label": labels}, jax.random.key(5))
  return state, float(metrics["loss"])


@pytest.mark.parametrize("mix,bf16", [("cutout", False), ("mixup", False), ("mix", True)])
def test_other_regularizers_and_bf16_train(mix, bf16):
  reference, ref_loss = one_step("none", bf16)
  state, loss = one_step(mix, bf16)
  assert np.isfinite(loss) and loss != ref_loss
  assert all(p.dtype == np.float32 for p in jax.tree_util.tree_leaves(state.params))
  # The regularizer changed what was learned from this batch.
  diffs = jax.tree_util.tree_map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                                 state.params, reference.params)
  assert max(jax.tree_util.tree_leaves(diffs)) > 1e-6


# ----------------------------------------------------------------------------- variants, minmax,
# mixing switched off for the last epochs (config fields mix_kwargs, cutmix_minmax,
# mix_off_last_epochs).


@pytest.mark.parametrize("mix", ["resizemix", "saliencymix", "fmix", "gridmix", "smoothmix"])
def test_variants_are_selectable_by_name_and_call_the_jaxmix_op(mix):
  config = test_config.get_config()
  config.mix, config.mix_mode, config.mix_partner = mix, "elem", "flip"
  images, labels = batch()
  key = jax.random.key(3)
  x, rows = augment.make_augment_fn(config, INFO)(key, images, labels)
  # The trainer's call: the op on the key, with the config's mix_prob (1) as its gate.
  soft = mix == "smoothmix"
  want_images, want_rows = jaxmix.OPS[mix](
      key, jnp.asarray(images, jnp.float32 if soft else jnp.uint8),
      labels, num_classes=10, mode="elem", partner="flip", label_smoothing=0.0, num_shards=1)
  np.testing.assert_allclose(np.asarray(x), np_normalize(np.asarray(want_images)), atol=1e-5)
  np.testing.assert_allclose(np.asarray(rows), np.asarray(want_rows), atol=1e-6)
  assert not np.allclose(np.asarray(x), np_normalize(images))   # something was mixed


def test_variant_alpha_comes_from_cutmix_alpha():
  config = test_config.get_config()
  config.mix, config.mix_mode, config.cutmix_alpha = "fmix", "elem", 0.3
  images, labels = batch()
  key = jax.random.key(5)
  _, rows = augment.make_augment_fn(config, INFO)(key, images, labels)
  _, want = jaxmix.OPS["fmix"](key, images, labels, alpha=0.3,
                               num_classes=10, mode="elem", partner="flip")
  _, other = jaxmix.OPS["fmix"](key, images, labels, alpha=1.0,
                                num_classes=10, mode="elem", partner="flip")
  np.testing.assert_allclose(np.asarray(rows), np.asarray(want), atol=1e-6)
  assert not np.allclose(np.asarray(rows), np.asarray(other))


def test_variant_probability_zero_and_batch_mode():
  config = test_config.get_config()
  config.mix, config.mix_mode, config.mix_prob = "fmix", "elem", 0.0
  images, labels = batch()
  x, rows = augment.make_augment_fn(config, INFO)(jax.random.key(0), images, labels)
  np.testing.assert_allclose(np.asarray(x), np_normalize(images), atol=1e-6)
  np.testing.assert_array_equal(np.asarray(rows), np.eye(10)[labels])
  # prob 0.5 per sample: some samples mixed, some not (8 samples, fixed key).
  config.mix_prob = 0.5
  x, rows = augment.make_augment_fn(config, INFO)(jax.random.key(0), images, labels)
  clean = np.all(np.asarray(rows) == np.eye(10)[labels], axis=1)
  assert 0 < clean.sum() < B
  np.testing.assert_allclose(np.asarray(x)[clean], np_normalize(images)[clean], atol=1e-6)


def test_unknown_or_trainer_owned_variant_options_are_refused():
  config = test_config.get_config()
  config.mix = "fmix"
  config.mix_kwargs.alfa = 1.0
  with pytest.raises(ValueError, match=r"config.mix_kwargs.alfa is not an option of .*fmix"):
    augment.make_augment_fn(config, INFO)
  config = test_config.get_config()
  config.mix = "resizemix"
  config.mix_kwargs.num_classes = 3
  with pytest.raises(ValueError, match="set by the trainer"):
    augment.make_augment_fn(config, INFO)


def test_cutmix_minmax_pastes_boxes_of_the_given_side():
  # minmax (0.5, 0.5) on 16×16: every box is 8×8 inside the image, so 1 − λ = 64 / 256.
  _, labels, _, rows = run("cutmix", cutmix_minmax=(0.5, 0.5))
  np.testing.assert_allclose(lam_of(rows, labels), 0.75, atol=1e-6)
  config = test_config.get_config()
  config.mix, config.cutmix_minmax = "mixup", (0.2, 0.8)
  with pytest.raises(ValueError, match="cutmix_minmax applies to mix='cutmix'"):
    augment.make_augment_fn(config, INFO)


@pytest.mark.parametrize("mix", ["cutmix", "fmix"])
def test_mixing_is_off_for_the_last_epochs(mix):
  config = test_config.get_config()
  config.mix, config.mix_mode, config.mix_prob = mix, "elem", 1.0
  config.mix_off_last_epochs = 2
  images, labels = batch()
  # 10 epochs of 5 steps: mixing stops at step 40.
  fn = jax.jit(augment.make_augment_fn(config, INFO, total_steps=50, steps_per_epoch=5))
  for step, mixed in ((0, True), (39, True), (40, False), (49, False)):
    x, rows = fn(jax.random.key(1), images, labels, step=jnp.int32(step))
    assert np.allclose(np.asarray(x), np_normalize(images), atol=1e-6) != mixed, step
    assert np.array_equal(np.asarray(rows), np.eye(10)[labels]) != mixed, step
  with pytest.raises(ValueError, match="pass step="):
    augment.make_augment_fn(config, INFO, total_steps=50, steps_per_epoch=5)(
        jax.random.key(1), images, labels)


def test_fields_added_later_at_their_default_keep_old_workdirs_resumable():
  from experiments.train import checkpointing
  config = test_config.get_config()
  saved = checkpointing.config_to_dict(config)
  del saved["mix_off_last_epochs"], saved["mix_kwargs"]
  assert checkpointing.differing_fields(saved, config) == []
  config.mix_off_last_epochs = 3.0
  assert checkpointing.differing_fields(saved, config) == ["mix_off_last_epochs"]
