"""jaxmix.testing: its assertions pass on every jaxmix op and fail on broken mixes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

import jaxmix
from jaxmix import testing


@settings(max_examples=5)  # a jit compile per drawn shape; every op runs the kit again below
@given(testing.distinct_batches())
def test_cutmix_passes_the_public_assertions(batch):
  images, labels, num_classes = batch
  key = jax.random.key(int(images.shape[0] * 7 + images.shape[1]))
  out, rows = jax.jit(functools.partial(jaxmix.cutmix, num_classes=num_classes, mode="elem"))(
      key, images, labels)
  partner_images = images[::-1]
  testing.assert_label_rows_valid(rows)
  testing.assert_pixels_from_sources(images, partner_images, out)
  lam = np.asarray(rows)[np.arange(len(labels)), np.asarray(labels)]
  testing.assert_area_matches_lam(images, partner_images, out, lam)


@settings(max_examples=2)  # JAXMIX_HYPOTHESIS=extended does not raise this; edit for a long run
# SaliencyMix and FMix through the kit are slow to compile; their masks are checked by their
# reference tests and the alignment property (tests/jaxmix/test_dense.py) in the default run.
@pytest.mark.parametrize("op", ["cutmix", "resizemix", "mixup"] + [
    pytest.param(op, marks=pytest.mark.slow) for op in ("saliencymix", "fmix")])
@given(data=st.data())
def test_every_op_passes_assert_valid_mix(op, data):
  """The documented use: a batch, a key and a config drawn; the whole mix checked."""
  batch = data.draw(testing.batches(max_batch=4, min_size=3, max_size=6,
                                    data_formats=("NHWC", "NCHW"), even_batch=True,
                                    max_boxes=3))
  config = data.draw(testing.op_configs(op, partners=("flip", "roll")))
  key = data.draw(testing.keys())
  b = batch["label"].shape[0]
  mixed = jaxmix.mix_dict(key, {k: batch[k] for k in ("image", "label", "mask", "boxes")},
                          op=op, num_classes=batch["num_classes"],
                          data_format=batch["data_format"], **config)
  partner = jaxmix.partner_index(key, b, config["partner"])
  testing.assert_valid_mix(batch, mixed, partner_index=partner, hard=op != "mixup",
                           data_format=batch["data_format"])


@settings(max_examples=3)
@given(batch=testing.batches(max_batch=4, max_size=8, max_boxes=3, dtypes=(jnp.float32,)),
       config=testing.op_configs("cutout"),
       key=testing.keys())
def test_cutout_passes_assert_valid_mix(batch, config, key):
  mixed = jaxmix.mix_dict(key, {k: batch[k] for k in ("image", "label", "mask", "boxes")},
                          op="cutout", fill=-1.0, ignore_value=-1, **config)
  testing.assert_valid_mix(batch, mixed, fill=-1.0, ignore_value=-1)


def _cutmix_batch():
  batch = {"image": jnp.asarray(np.broadcast_to(np.arange(1, 5, dtype=np.float32)[:, None, None,
                                                                                  None],
                                                (4, 6, 6, 3))),
           "label": jnp.arange(4), "mask": jnp.arange(4 * 36, dtype=jnp.int32).reshape(4, 6, 6)}
  mixed = jaxmix.mix_dict(jax.random.key(0), batch, op="cutmix", num_classes=4, mode="elem")
  return batch, mixed


def test_assertions_catch_broken_mixes():
  images = jnp.asarray(np.broadcast_to(np.arange(1, 5, dtype=np.float32)[:, None, None, None],
                                       (4, 6, 6, 3)))
  partner_images = images[::-1]
  with pytest.raises(AssertionError, match="sum to 1"):
    testing.assert_label_rows_valid(jnp.full((4, 4), 0.3))
  with pytest.raises(AssertionError, match="NaN"):
    testing.assert_label_rows_valid(jnp.full((4, 4), jnp.nan))
  with pytest.raises(AssertionError, match="neither source"):
    testing.assert_pixels_from_sources(images, partner_images, images + 100)
  half = images.at[:, :3].set(partner_images[:, :3])  # takes 1/2 of the pixels
  testing.assert_area_matches_lam(images, partner_images, half, jnp.full((4,), 0.5))
  with pytest.raises(AssertionError, match="partner fraction"):
    testing.assert_area_matches_lam(images, partner_images, half, jnp.full((4,), 0.75))


def test_assert_valid_mix_catches_misaligned_masks_wrong_weights_and_bad_boxes():
  batch, mixed = _cutmix_batch()
  flip = jnp.arange(4)[::-1]
  testing.assert_valid_mix(batch, mixed, partner_index=flip)
  shifted = dict(mixed, mask=jnp.roll(mixed["mask"], 1, axis=2))
  with pytest.raises(AssertionError, match="misaligned"):
    testing.assert_valid_mix(batch, shifted, partner_index=flip)
  rows = np.asarray(mixed["label"])
  uncorrected = rows.copy()
  uncorrected[:, :] = np.eye(4) * 0.5 + np.eye(4)[::-1] * 0.5
  with pytest.raises(AssertionError, match="partner fraction"):
    testing.assert_valid_mix(batch, dict(mixed, label=jnp.asarray(uncorrected)),
                             partner_index=flip)
  with pytest.raises(AssertionError, match="do not match the input"):
    testing.assert_valid_mix(batch, dict(mixed, image=mixed["image"].astype(jnp.float16)))
  boxes = {"boxes": jnp.asarray([[[0, 0, 7, 2]]] * 4, jnp.float32), "valid": jnp.ones((4, 1), bool)}
  with pytest.raises(AssertionError, match="leave the image"):
    testing.assert_valid_mix(batch, dict(mixed, boxes=boxes))
  flat = dict(boxes, boxes=jnp.asarray([[[1, 1, 1, 2]]] * 4, jnp.float32))
  with pytest.raises(AssertionError, match="positive width"):
    testing.assert_boxes_valid(flat, height=6, width=6)
