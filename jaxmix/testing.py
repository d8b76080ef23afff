"""Property-testing kit for mixing functions, yours or jaxmix's.

Hypothesis strategies build batches whose pixels say where they came from, and
chex-style assertions check a mix: shapes and dtypes kept, label rows valid,
pixels from the image or its partner, label weights equal to the pasted share,
dense targets aligned with the images pixel for pixel, boxes well formed.

Example (pytest + hypothesis; `my_cutmix` pairs image i with image B − 1 − i)::

  import jax, jax.numpy as jnp
  from hypothesis import given
  from jaxmix import testing

  @given(testing.batches(), testing.keys())
  def test_my_cutmix(batch, key):
    images, labels = batch["image"], batch["label"]
    mixed, rows, mixed_masks = my_cutmix(key, images, labels, masks=batch["mask"])
    testing.assert_valid_mix(batch, {"image": mixed, "label": rows, "mask": mixed_masks},
                             partner_index=jnp.arange(len(labels))[::-1])

The batches: image i is constant (i + 1) in every channel, its label is i
(`num_classes` = max(B, 2)), and its mask is a per-pixel code
i·H·W + y·W + x, so the source of every output pixel can be read from the
image and, independently, from the mask. This needs `hypothesis` (a test
dependency); the assertions need only NumPy.
"""

from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def _np(x):
  return None if x is None else np.asarray(x)


def assert_label_rows_valid(rows: jax.Array, atol: float = 1e-5) -> None:
  """Rows are finite, non-negative and sum to 1."""
  rows = np.asarray(rows, np.float64)
  if rows.ndim != 2:
    raise AssertionError(f"label rows must have rank 2, got shape {rows.shape}")
  if not np.isfinite(rows).all():
    raise AssertionError("label rows contain NaN or inf")
  if (rows < -atol).any():
    raise AssertionError(f"label rows have negative entries (min {rows.min()})")
  sums = rows.sum(axis=1)
  if not np.allclose(sums, 1.0, atol=atol):
    raise AssertionError(f"label rows must sum to 1, got sums {sums[:8]}")


def assert_pixels_from_sources(images: jax.Array, partner_images: jax.Array,
                               mixed: jax.Array) -> None:
  """Every output pixel equals that pixel of the image or of its partner (CutMix-like ops)."""
  x, p, o = (np.asarray(a) for a in (images, partner_images, mixed))
  if o.dtype != x.dtype or o.shape != x.shape:
    raise AssertionError(f"output {o.shape} {o.dtype} does not match input {x.shape} {x.dtype}")
  bad = ~((o == x) | (o == p))
  if bad.any():
    raise AssertionError(f"{int(bad.sum())} output values come from neither source, "
                         f"first at {np.argwhere(bad)[0].tolist()}")


def partner_fraction(images: jax.Array, partner_images: jax.Array, mixed: jax.Array,
                     data_format: str = "NHWC") -> np.ndarray:
  """Fraction of each image's pixels (all channels) taken from the partner and not the image.

  Exact when an image and its partner differ at every pixel (see `batches`).
  """
  x, p, o = (np.asarray(a) for a in (images, partner_images, mixed))
  channel_axis = 3 if data_format == "NHWC" else 1
  taken = np.all(o == p, axis=channel_axis) & np.any(o != x, axis=channel_axis)
  return taken.reshape(taken.shape[0], -1).mean(axis=1)


def assert_area_matches_lam(images: jax.Array, partner_images: jax.Array, mixed: jax.Array,
                            lam: jax.Array, data_format: str = "NHWC",
                            atol: float = 1e-6) -> None:
  """The fraction taken from the partner equals 1 − λ per image (label weight = pasted area).

  Images equal to their partner are skipped (nothing visible changes).
  """
  frac = partner_fraction(images, partner_images, mixed, data_format)
  lam = np.broadcast_to(np.asarray(lam, np.float64), frac.shape)
  differs = np.array([not np.array_equal(a, b) for a, b in
                      zip(np.asarray(images), np.asarray(partner_images))])
  err = np.abs(frac - (1.0 - lam))[differs]
  if err.size and err.max() > atol:
    i = int(np.argmax(np.where(differs, np.abs(frac - (1.0 - lam)), -1)))
    raise AssertionError(f"image {i}: partner fraction {frac[i]} != 1 - λ = {1 - lam[i]}")


def assert_masks_aligned(images: jax.Array, mixed_images: jax.Array, masks: jax.Array,
                         mixed_masks: jax.Array, *, data_format: str = "NHWC",
                         ignore_value: Optional[int] = None, fill=None) -> None:
  """Each output mask pixel comes from the same source image as the output image pixel.

  For batches from `batches()`: the image tells the source by its constant
  value (i + 1), the mask by its code (code // (H·W)). Erased pixels (image
  equal to `fill`) must carry `ignore_value`.
  """
  x, o, m, om = (np.asarray(a) for a in (images, mixed_images, masks, mixed_masks))
  if om.shape != m.shape or om.dtype != m.dtype:
    raise AssertionError(f"mixed masks {om.shape} {om.dtype} do not match {m.shape} {m.dtype}")
  channel0 = o[..., 0] if data_format == "NHWC" else o[:, 0]
  height, width = m.shape[1:3]
  erased = np.zeros(channel0.shape, bool) if fill is None else channel0 == fill
  if ignore_value is not None:
    bad = erased != (om == ignore_value)
    if bad.any():
      raise AssertionError(f"{int(bad.sum())} pixels erased in the image but not in the mask "
                           f"(or the reverse), first at {np.argwhere(bad)[0].tolist()}")
  from_image = np.rint(channel0.astype(np.float64)).astype(np.int64) - 1
  from_mask = om.astype(np.int64) // (height * width)
  bad = ~erased & (from_image != from_mask)
  if bad.any():
    i, y, xx = np.argwhere(bad)[0]
    raise AssertionError(f"{int(bad.sum())} pixels misaligned: at sample {i} pixel ({y}, {xx}) "
                         f"the image comes from {from_image[i, y, xx]}, the mask from "
                         f"{from_mask[i, y, xx]}")


def assert_boxes_valid(boxes: dict, *, height: int, width: int, normalized: bool = False,
                       atol: float = 1e-5) -> None:
  """Detections are well formed: valid boxes inside the image with positive area,
  weights finite and non-negative, every per-box array with the same [B, N] slots."""
  coords, valid = np.asarray(boxes["boxes"], np.float64), np.asarray(boxes["valid"], bool)
  if coords.ndim != 3 or coords.shape[-1] != 4 or valid.shape != coords.shape[:2]:
    raise AssertionError(f"boxes must be [B, N, 4] with valid [B, N], got {coords.shape} "
                         f"and {valid.shape}")
  for name, leaf in boxes.items():
    if np.shape(leaf)[:2] != coords.shape[:2]:
      raise AssertionError(f"boxes[{name!r}] has leading shape {np.shape(leaf)[:2]}, "
                           f"expected {coords.shape[:2]}")
  limit = np.array([1.0, 1.0, 1.0, 1.0]) if normalized else np.array(
      [width, height, width, height], np.float64)
  c = coords[valid]
  if not np.isfinite(c).all():
    raise AssertionError("valid boxes contain NaN or inf")
  if (c < -atol).any() or (c > limit + atol).any():
    raise AssertionError(f"valid boxes leave the image [0, {limit[0]}] x [0, {limit[1]}]")
  if ((c[:, 2] - c[:, 0]) <= 0).any() or ((c[:, 3] - c[:, 1]) <= 0).any():
    raise AssertionError("valid boxes must have positive width and height")
  if "weights" in boxes:
    w = np.asarray(boxes["weights"], np.float64)
    if not np.isfinite(w).all() or (w < -atol).any():
      raise AssertionError("box weights must be finite and non-negative")


def assert_valid_mix(batch: dict, mixed: dict, *, partner_index=None, hard: bool = True,
                     data_format: str = "NHWC", ignore_value: Optional[int] = None,
                     fill=None, normalized_boxes: bool = False, atol: float = 1e-5) -> None:
  """Checks a mix of a `batches()` batch: everything a correct mixing function guarantees.

  Args:
    batch: the input dict ("image", "label", optional "mask", "boxes").
    mixed: the output dict with the same keys (labels as float rows [B, K]).
    partner_index: [B] index of each image's partner when known (pairing ops):
      enables the checks that pixels come from the image or its partner and
      that the label weight equals the share of partner pixels.
    hard: the op copies pixels (CutMix, ResizeMix, SaliencyMix, FMix, Cutout);
      False for blends (Mixup), which skips the pixel-source checks.
    ignore_value, fill: for erasing ops (Cutout): mask and image values of
      erased pixels.
  """
  images, out = np.asarray(batch["image"]), np.asarray(mixed["image"])
  if out.shape != images.shape or out.dtype != images.dtype:
    raise AssertionError(f"mixed images {out.shape} {out.dtype} do not match the input "
                         f"{images.shape} {images.dtype}")
  if not np.isfinite(out.astype(np.float64)).all():
    raise AssertionError("mixed images contain NaN or inf")
  rows = _np(mixed.get("label"))
  if rows is not None and rows.ndim == 2:
    assert_label_rows_valid(rows, atol=atol)
  if hard and partner_index is not None:
    # With `batches()` images (constant per image) this holds for every hard op,
    # ResizeMix included: a moved partner pixel still has the partner's value.
    partners = images[np.asarray(partner_index)]
    if fill is None:
      assert_pixels_from_sources(images, partners, out)
    if rows is not None and rows.ndim == 2 and fill is None:
      labels = np.asarray(batch["label"])
      lam = rows[np.arange(len(labels)), labels]
      assert_area_matches_lam(images, partners, out, lam, data_format, atol)
  if "mask" in batch and "mask" in mixed and hard:
    assert_masks_aligned(images, out, batch["mask"], mixed["mask"], data_format=data_format,
                         ignore_value=ignore_value, fill=fill)
  if "boxes" in mixed:
    axis_h, axis_w = (1, 2) if data_format == "NHWC" else (2, 3)
    assert_boxes_valid(mixed["boxes"], height=images.shape[axis_h], width=images.shape[axis_w],
                       normalized=normalized_boxes, atol=atol)


# ---- hypothesis strategies ---------------------------------------------------------------

MODES = ("batch", "pair", "elem")
PARTNERS = ("flip", "roll", "permute")


def _st():
  from hypothesis import strategies as st  # a test dependency only
  return st


def keys(max_seed: int = 2 ** 16):
  """Strategy: `jax.random.key(seed)` for a drawn seed."""
  return _st().integers(0, max_seed).map(jax.random.key)


def batches(max_batch: int = 6, min_size: int = 1, max_size: int = 12,
            dtypes: Sequence = (jnp.uint8, jnp.bfloat16, jnp.float16, jnp.float32),
            data_formats: Sequence[str] = ("NHWC",), channels: Sequence[int] = (1, 3),
            even_batch: bool = False, masks: bool = True, max_boxes: int = 0):
  """Strategy: a dict batch whose pixels name their source (see the module docstring).

  Keys: "image" [B, H, W, C] (or NCHW), "label" int32 [B], "num_classes",
  "data_format", "mask" int32 [B, H, W] codes (when `masks`), and "boxes"
  (when `max_boxes` > 0, see `box_targets`).
  """
  st = _st()

  @st.composite
  def build(draw):
    b = draw(st.integers(1, max_batch))
    if even_batch:
      b = 2 * ((b + 1) // 2)
    h, w = draw(st.integers(min_size, max_size)), draw(st.integers(min_size, max_size))
    c = draw(st.sampled_from(list(channels)))
    dtype = draw(st.sampled_from(list(dtypes)))
    fmt = draw(st.sampled_from(list(data_formats)))
    values = np.arange(1, b + 1, dtype=np.float32)[:, None, None, None]
    images = np.broadcast_to(values, (b, h, w, c))
    if fmt == "NCHW":
      images = images.transpose(0, 3, 1, 2)
    out = {"image": jnp.asarray(images, dtype), "label": jnp.arange(b, dtype=jnp.int32),
           "num_classes": max(b, 2), "data_format": fmt}
    if masks:
      out["mask"] = jnp.asarray(np.arange(b * h * w, dtype=np.int32).reshape(b, h, w))
    if max_boxes:
      out["boxes"] = draw(box_targets(b, h, w, max_boxes=max_boxes))
    return out

  return build()


def box_targets(batch_size: int, height: int, width: int, *, max_boxes: int = 4,
                normalized: bool = False):
  """Strategy: detections {"boxes" [B, N, 4], "valid" [B, N], "classes" [B, N]}, N static."""
  st = _st()

  @st.composite
  def build(draw):
    n = draw(st.integers(1, max_boxes))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    xs = np.sort(rng.uniform(0, width, (batch_size, n, 2)), axis=-1)
    ys = np.sort(rng.uniform(0, height, (batch_size, n, 2)), axis=-1)
    coords = np.stack([xs[..., 0], ys[..., 0], xs[..., 1], ys[..., 1]], -1).astype(np.float32)
    if normalized:
      coords = coords / np.array([width, height, width, height], np.float32)
    return {"boxes": jnp.asarray(coords), "valid": jnp.asarray(rng.random((batch_size, n)) < 0.8),
            "classes": jnp.asarray(rng.integers(0, 5, (batch_size, n)), jnp.int32)}

  return build()


def dense_targets(batch_size: int, height: int, width: int, num_classes: int, *,
                  ignore_value: int = 255, soft: bool = False):
  """Strategy: integer label maps [B, H, W] with some `ignore_value` pixels, or soft rows."""
  st = _st()

  @st.composite
  def build(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31 - 1)))
    if soft:
      rows = rng.random((batch_size, height, width, num_classes)).astype(np.float32)
      return jnp.asarray(rows / rows.sum(-1, keepdims=True))
    maps = rng.integers(0, num_classes, (batch_size, height, width)).astype(np.int32)
    maps[rng.random(maps.shape) < 0.1] = ignore_value
    return jnp.asarray(maps)

  return build()


def op_configs(op: str = "cutmix", *, modes: Sequence[str] = MODES,
               partners: Sequence[str] = PARTNERS):
  """Strategy: keyword options for `jaxmix.OPS[op]` (mode, partner, α and op-specific ones).

  Pair mode is drawn with the "flip" partner only (it needs an even batch).
  """
  st = _st()

  @st.composite
  def build(draw):
    if op == "cutout":
      return {"mode": draw(st.sampled_from(["batch", "elem"])), "size": draw(st.integers(1, 8))}
    mode = draw(st.sampled_from(list(modes)))
    partner = "flip" if mode == "pair" else draw(st.sampled_from(list(partners)))
    config = {"mode": mode, "partner": partner}
    if op in ("cutmix", "mixup", "saliencymix", "fmix"):
      config["alpha"] = draw(st.floats(0.2, 4.0))
    if op == "resizemix":
      lo = draw(st.floats(0.05, 0.9))
      config["scale"] = (lo, draw(st.floats(lo, 1.0)))
    if op == "fmix":
      config["decay_power"] = draw(st.sampled_from([1.0, 3.0, 5.0]))
    return config

  return build()


def distinct_batches(max_batch: int = 6, max_size: int = 12,
                     dtypes=(jnp.uint8, jnp.bfloat16, jnp.float16, jnp.float32)):
  """Strategy: (images, labels, num_classes), image i constant i + 1, label i (jaxmix 0.1).

  The tuple form of `batches(masks=False)`.
  """
  return batches(max_batch=max_batch, max_size=max_size, dtypes=dtypes, masks=False).map(
      lambda b: (b["image"], b["label"], b["num_classes"]))
