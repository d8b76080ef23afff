"""jaxmix.testing: its assertions pass on correct mixes and fail on broken ones."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given

import jaxmix
from jaxmix import testing


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
