"""Detection targets: per-image boxes, padded to a static N, through CutMix, Mixup and co.

Boxes are `[B, N, 4]` floats `(x1, y1, x2, y2)` (corners, x1 ≤ x2, y1 ≤ y2),
in pixels or normalized to [0, 1] (`normalized=True`), with a validity mask
`[B, N]` (padding slots are False). Per-box arrays (classes, ids, weights) ride
along in a dict, so a batch's detections are one pytree:

  {"boxes": [B, N, 4], "valid": [B, N] bool, "weights": [B, N] float, ...any [B, N, ...]}

The output of a two-source op has 2N slots: the image's boxes in slots [0, N),
its partner's in [N, 2N), every array padded the same way.

- Pasting a rectangle P (CutMix, SaliencyMix, ResizeMix): each image box
  becomes the bounding box of what stays visible (b minus P) and is dropped
  when the visible fraction of its area falls below `min_visible`; each partner
  box is clipped to P (CutMix) or mapped into P (ResizeMix), same threshold.
- Blending (Mixup): both sets are kept; weights are multiplied by λ and 1 − λ.
- An arbitrary mask (FMix): visibility is counted on the pixel grid (a pixel
  belongs to a box when its centre does) and each box shrinks to the pixels of
  its own source that remain.
"""

import jax
import jax.numpy as jnp

from jaxmix._src import boxes as boxes_lib

# YOLOv5's `box_candidates` keeps boxes that keep more than 10% of their area.
DEFAULT_MIN_VISIBLE = 0.1


def check_detections(dets, batch_size: int) -> dict:
  """Validates a detections dict and fills `valid` / `weights` when absent."""
  if not isinstance(dets, dict) or "boxes" not in dets:
    raise ValueError("boxes must be a dict with a 'boxes' entry of shape [batch, N, 4]")
  coords = jnp.asarray(dets["boxes"])
  if coords.ndim != 3 or coords.shape[0] != batch_size or coords.shape[2] != 4:
    raise ValueError(f"boxes must have shape [batch={batch_size}, N, 4] (x1, y1, x2, y2), "
                     f"got {list(coords.shape)}")
  if not jnp.issubdtype(coords.dtype, jnp.floating):
    coords = coords.astype(jnp.float32)
  out = dict(dets)
  out["boxes"] = coords
  out.setdefault("valid", jnp.ones(coords.shape[:2], bool))
  out.setdefault("weights", jnp.ones(coords.shape[:2], jnp.float32))
  for name, leaf in out.items():
    if jnp.shape(leaf)[:2] != coords.shape[:2]:
      raise ValueError(f"boxes[{name!r}] must have leading shape {list(coords.shape[:2])}, "
                       f"got {list(jnp.shape(leaf))}")
  out["valid"] = jnp.asarray(out["valid"], bool)
  out["weights"] = jnp.asarray(out["weights"], jnp.float32)
  return out


def region_from_box(box: boxes_lib.Box, height: int, width: int, normalized: bool) -> jax.Array:
  """A pixel `Box` → float32 (x1, y1, x2, y2) in box units, shape box.shape + (4,)."""
  scale = jnp.asarray([width, height, width, height], jnp.float32) if normalized else 1.0
  corners = jnp.stack([jnp.asarray(c, jnp.float32) for c in (box.x1, box.y1, box.x2, box.y2)],
                      axis=-1)
  return corners / scale


def _area(b: jax.Array) -> jax.Array:
  return jnp.maximum(b[..., 2] - b[..., 0], 0.0) * jnp.maximum(b[..., 3] - b[..., 1], 0.0)


def _expand_region(region: jax.Array) -> jax.Array:
  """(…, 4) region, one for all ([4]) or one per image ([B, 4]) → [B or 1, 1, 4]."""
  return region[None, None] if region.ndim == 1 else region[:, None]


def occlude(coords: jax.Array, valid: jax.Array, region: jax.Array,
            min_visible=DEFAULT_MIN_VISIBLE) -> tuple[jax.Array, jax.Array]:
  """Boxes seen through an opaque rectangle: the bounding box of b \\ region.

  b \\ region is a rectangle only when the region spans b's full width (or
  height); then the covered band is cut off that side. Otherwise its bounding
  box is b itself. The visible fraction is 1 − area(b ∩ region) / area(b).

  Args:
    coords: [B, N, 4] boxes (x1, y1, x2, y2).
    valid: [B, N] bool.
    region: [4] or [B, 4] rectangle in the same units.
    min_visible: drop boxes with a smaller visible fraction (float, may be traced).

  Returns:
    (coords, valid): dropped boxes are invalid and zeroed.
  """
  r = _expand_region(region)
  bx1, by1, bx2, by2 = (coords[..., i] for i in range(4))
  rx1, ry1, rx2, ry2 = (r[..., i] for i in range(4))
  inter = jnp.stack([jnp.maximum(bx1, rx1), jnp.maximum(by1, ry1),
                     jnp.minimum(bx2, rx2), jnp.minimum(by2, ry2)], axis=-1)
  area = _area(coords)
  visible = 1.0 - _area(inter) / jnp.where(area > 0, area, 1.0)
  spans_x = (rx1 <= bx1) & (rx2 >= bx2)
  spans_y = (ry1 <= by1) & (ry2 >= by2)
  # A band covering an edge moves that edge to the band's far side.
  cut = lambda lo, hi, r_lo, r_hi: (jnp.where(r_lo <= lo, jnp.maximum(lo, r_hi), lo),
                                    jnp.where(r_hi >= hi, jnp.minimum(hi, r_lo), hi))
  ny1, ny2 = cut(by1, by2, ry1, ry2)
  nx1, nx2 = cut(bx1, bx2, rx1, rx2)
  ny1, ny2 = jnp.where(spans_x, ny1, by1), jnp.where(spans_x, ny2, by2)
  nx1, nx2 = jnp.where(spans_y, nx1, bx1), jnp.where(spans_y, nx2, bx2)
  out = jnp.stack([nx1, ny1, nx2, ny2], axis=-1)
  keep = valid & (area > 0) & (visible >= min_visible) & (_area(out) > 0)
  return jnp.where(keep[..., None], out, 0.0), keep


def clip_to(coords: jax.Array, valid: jax.Array, region: jax.Array,
            min_visible=DEFAULT_MIN_VISIBLE) -> tuple[jax.Array, jax.Array]:
  """Boxes seen only through a rectangular window: b ∩ region, dropped below `min_visible`."""
  r = _expand_region(region)
  out = jnp.stack([jnp.maximum(coords[..., 0], r[..., 0]), jnp.maximum(coords[..., 1], r[..., 1]),
                   jnp.minimum(coords[..., 2], r[..., 2]), jnp.minimum(coords[..., 3], r[..., 3])],
                  axis=-1)
  area = _area(coords)
  visible = _area(out) / jnp.where(area > 0, area, 1.0)
  keep = valid & (area > 0) & (visible >= min_visible) & (_area(out) > 0)
  return jnp.where(keep[..., None], out, 0.0), keep


def map_into(coords: jax.Array, valid: jax.Array, region: jax.Array, height: float,
             width: float) -> tuple[jax.Array, jax.Array]:
  """Boxes of a whole image of size (H, W) shrunk into `region` (ResizeMix's paste).

  x' = rx1 + x·(rx2 − rx1)/W, y' = ry1 + y·(ry2 − ry1)/H; boxes that become
  empty (an empty region) are dropped.
  """
  r = _expand_region(region)
  sx, sy = (r[..., 2] - r[..., 0]) / width, (r[..., 3] - r[..., 1]) / height
  out = jnp.stack([r[..., 0] + coords[..., 0] * sx, r[..., 1] + coords[..., 1] * sy,
                   r[..., 0] + coords[..., 2] * sx, r[..., 1] + coords[..., 3] * sy], axis=-1)
  keep = valid & (_area(out) > 0)
  return jnp.where(keep[..., None], out, 0.0), keep


def _pixel_span(lo: jax.Array, hi: jax.Array, size: int) -> tuple[jax.Array, jax.Array]:
  """Pixels whose centre p + 0.5 lies in [lo, hi): [⌈lo − 0.5⌉, ⌈hi − 0.5⌉) clipped."""
  first = jnp.clip(jnp.ceil(lo - 0.5), 0, size).astype(jnp.int32)
  stop = jnp.clip(jnp.ceil(hi - 0.5), 0, size).astype(jnp.int32)
  return first, jnp.maximum(stop, first)


def through_mask(coords: jax.Array, valid: jax.Array, visible_mask: jax.Array,
                 min_visible=DEFAULT_MIN_VISIBLE, normalized: bool = False
                 ) -> tuple[jax.Array, jax.Array]:
  """Boxes seen through a per-pixel mask (FMix): visible fraction and extent on the pixel grid.

  Args:
    coords: [B, N, 4]; valid: [B, N].
    visible_mask: [B or 1, H, W] in [0, 1], 1 where this source's pixels show
      (a soft mask counts a pixel as showing where it is > 0).
    min_visible: drop boxes whose mean mask over their pixels is below this.
    normalized: coordinates in [0, 1] instead of pixels.

  Returns:
    (coords, valid): each kept box shrunk to the rows and columns of its
    visible pixels (intersected with the box itself).
  """
  mask = jnp.asarray(visible_mask, jnp.float32)
  if mask.ndim == 2:
    mask = mask[None]
  height, width = mask.shape[-2:]
  scale = jnp.asarray([width, height, width, height], jnp.float32) if normalized else 1.0
  px = coords * scale
  ys, ye = _pixel_span(px[..., 1], px[..., 3], height)
  xs, xe = _pixel_span(px[..., 0], px[..., 2], width)
  shows = (mask > 0).astype(jnp.float32)
  # Prefix sums along x (per row) and y (per column): [B, H, W + 1] and [B, W, H + 1].
  row_cum = jnp.pad(jnp.cumsum(shows, axis=2), ((0, 0), (0, 0), (1, 0)))
  col_cum = jnp.pad(jnp.cumsum(jnp.swapaxes(shows, 1, 2), axis=2), ((0, 0), (0, 0), (1, 0)))
  weight_cum = jnp.pad(jnp.cumsum(jnp.cumsum(mask, axis=1), axis=2), ((0, 0), (1, 0), (1, 0)))

  def per_line(cum, start, stop):  # [B, L, S+1] with [B, N] bounds → counts [B, N, L]
    take = lambda idx: jnp.take_along_axis(cum[:, None], idx[..., None, None], axis=3)[..., 0]
    return take(stop) - take(start)

  def extent(counts, lo, hi):  # first / last line with a visible pixel inside [lo, hi)
    lines = jnp.arange(counts.shape[-1])
    inside = (counts > 0) & (lines >= lo[..., None]) & (lines < hi[..., None])
    first = jnp.argmax(inside, axis=-1)
    last = counts.shape[-1] - 1 - jnp.argmax(inside[..., ::-1], axis=-1)
    return first, last + 1, jnp.any(inside, axis=-1)

  row_counts = per_line(jnp.broadcast_to(row_cum, (px.shape[0],) + row_cum.shape[1:]), xs, xe)
  col_counts = per_line(jnp.broadcast_to(col_cum, (px.shape[0],) + col_cum.shape[1:]), ys, ye)
  r0, r1, any_rows = extent(row_counts, ys, ye)
  c0, c1, _ = extent(col_counts, xs, xe)
  sat = jnp.broadcast_to(weight_cum, (px.shape[0],) + weight_cum.shape[1:])
  corner = lambda y, x: jax.vmap(lambda s, yy, xx: s[yy, xx])(sat, y, x)
  total = corner(ye, xe) - corner(ys, xe) - corner(ye, xs) + corner(ys, xs)
  pixels = ((ye - ys) * (xe - xs)).astype(jnp.float32)
  visible = total / jnp.where(pixels > 0, pixels, 1.0)
  out = jnp.stack([jnp.maximum(px[..., 0], c0), jnp.maximum(px[..., 1], r0),
                   jnp.minimum(px[..., 2], c1), jnp.minimum(px[..., 3], r1)], axis=-1)
  keep = valid & any_rows & (pixels > 0) & (visible >= min_visible) & (_area(out) > 0)
  return jnp.where(keep[..., None], out / scale, 0.0), keep


def unmixed(dets: dict) -> dict:
  """The 2N-slot output of a sample that mixes with nothing (its own partner): its own
  boxes, unchanged, then N slots with every box dropped (invalid, zero corners and weight,
  other leaves kept as for any dropped box): no copies of its boxes."""
  coords, valid = dets["boxes"], dets["valid"]
  return combine(dets, dets, coords, valid, jnp.zeros_like(coords), jnp.zeros_like(valid))


def combine(dets: dict, partner_dets: dict, coords: jax.Array, valid: jax.Array,
            partner_coords: jax.Array, partner_valid: jax.Array,
            weights=(1.0, 1.0)) -> dict:
  """The 2N-slot output: the image's boxes, then its partner's; other leaves follow.

  `weights` = (w_image, w_partner), scalars or [B], multiply the box weights
  (Mixup's λ and 1 − λ).
  """
  out = {}
  for name in dets:
    a, b = dets[name], partner_dets[name]
    if name == "boxes":
      a, b = coords, partner_coords
    elif name == "valid":
      a, b = valid, partner_valid
    elif name == "weights":
      wa, wb = (jnp.asarray(w, jnp.float32).reshape(jnp.shape(w) + (1,) * (2 - jnp.ndim(w)))
                for w in weights)
      a, b = jnp.where(valid, a * wa, 0.0), jnp.where(partner_valid, b * wb, 0.0)
    out[name] = jnp.concatenate([a, b], axis=1)
  return out
