"""The patch path of CutMix (`method="patch"`): rewrite only what the boxes cover.

Per backend (`paste_patch` dispatches while lowering, so one traced function serves all):
- CUDA: a Pallas Triton kernel (`paste_pallas`) that loads and stores only box pixels,
  one launch, no loop (compiled for sm_90 without a GPU; not yet timed on one). In a
  `jax.export`ed module, on a batch sharded over devices (`num_shards > 1`) and for
  batches of 2³¹ or more elements: the row loop below (jax refuses to serialize a
  Triton call; a `pallas_call` has no partitioning rule; the kernel's offsets are int32).
- TPU: the row loop. The Triton kernel's masked pointer loads have no Mosaic lowering,
  and jax 0.10.2 cannot lower a Pallas TPU kernel on a machine without a TPU
  ("Unsupported TPU device kind: cpu"), so no export test could cover one.
- CPU: the row loop (Pallas runs on a CPU only in its interpreter).

`method="auto"` is the mask path on every backend, from measurement where there is one:
- CPU (`benchmarks/paste_speed.py`, docs/bench/paste_speed_cpu.txt): the row loop wins
  only when the batch is donated or a dead intermediate; not donated, XLA copies the
  batch first and the row loop ties or loses (elem mode), and "auto" cannot see whether
  the caller donates.
- CUDA: not measured (no GPU was lent). The kernel moves about a third of the mask
  path's bytes, but until it is timed the fused mask path stays the default.
- TPU: not measured; "patch" would be the row loop there.

Why patch: the mask path, `where(box_mask, partner_images, images)`, reads the batch twice and
writes a whole new batch: about 3× the batch bytes, and outside a larger jit the
fresh output buffer must be page-faulted in on every call (on a CPU that, not the
mixing, is most of the time at 224 px). The row loop, `paste_rows`, instead walks the
image rows that some box covers and rewrites only those rows, so its result can live
in the input's own buffer. Its trip count is static, ceil(H / T) steps of T rows, and
steps past the box rows skip their slab (measured on this CPU: no slower than the
earlier loop that ran only the box rows' steps, whose data-dependent predicate XLA:GPU
copies to the host on every iteration).

Why rows: every pasted pixel comes from the same (row, column) of the partner, so
row r of the output depends only on row r of the input. Each slab of rows
(`[B, T, W·C]` for NHWC) is read whole, mixed, and written back once, which is correct
for any partner pairing (flip, roll, permutation) without a copy of the batch: no row is read
after it was written.

Bytes moved: batch mode (one box) touches only the box's rows, (y2 − y1)/H of the
batch, read once and written once; elem mode touches the union of the per-sample
box rows (with α = 1, nearly all rows), i.e. one in-place pass: the bytes of a
copy, never more.

Aliasing rules (XLA, not this code, decides where the result lives):
- `jax.jit(f, donate_argnums=...)` with `images` donated: the rows are rewritten in
  the donated buffer; nothing else is allocated. Do not read the donated array
  afterwards (JAX raises if you do).
- `images` an intermediate of a larger jitted function (e.g. normalized inside a
  train step) and not used after the mix: also in place.
- `images` not donated and still live: XLA first copies it to a new buffer (one
  extra pass), then rewrites the rows there; the input is untouched. Then the mask
  path, which fuses with its neighbours, is usually as fast or faster.

Results are bit for bit those of the mask path (pixels are copied, never computed).
"""

import functools
from typing import Callable, Union

import jax
from jax import lax
from jax.extend import core as jex_core
from jax.interpreters import batching
from jax.interpreters import mlir
import jax.numpy as jnp

from jaxmix._src import boxes
from jaxmix._src import pairing
from jaxmix._src import paste_pallas

Partners = Union[jax.Array, Callable[[jax.Array], jax.Array]]


def _row_range(y1: jax.Array, y2: jax.Array, height: int):
  """[lo, hi): the rows covered by at least one non-empty box (empty range if none)."""
  nonempty = y2 > y1
  lo = jnp.min(jnp.where(nonempty, y1, height))
  hi = jnp.max(jnp.where(nonempty, y2, 0))
  return lo, jnp.maximum(lo, hi)


def _default_rows_per_step(images: jax.Array, axis_h: int) -> int:
  """About 256 KiB per step: fewer, cache-sized steps (one row at 224 px, B = 128)."""
  row_bytes = images.size // images.shape[axis_h] * images.dtype.itemsize
  return max(1, (256 * 1024) // max(row_bytes, 1))


def paste_rows(images: jax.Array, partners: Partners, box, *,
               data_format: str = "NHWC", rows_per_step: int = 0,
               all_rows: bool = False) -> jax.Array:
  """`where(box_mask(box), images[partner], images)` computed row by row.

  Args:
    images: [B, H, W, C] (or [B, C, H, W] with `data_format="NCHW"`), any dtype.
    partners: int array [B] (the partner index of each sample) or a function that
      maps an array with a leading batch axis to each sample's partner's values
      (e.g. `lambda a: jaxmix.gather_partners(a, key, "flip")`); it is applied to
      slabs of T rows (`[B, T, W·C]` for NHWC, `[B, C, T, W]` for NCHW), so it must
      act on the leading axis only.
    box: anything with int arrays `y1, y2, x1, x2` (a `jaxmix.Box`), scalars (one
      box for all, batch mode) or [B] (one per sample); half-open, clipped to the
      image as `jaxmix` boxes are.
    data_format: "NHWC" or "NCHW".
    rows_per_step: rows handled per loop iteration (0: chosen from the shape). More
      rows mean fewer iterations (each has a fixed cost) but up to T − 1 rows
      visited beyond the boxes.
    all_rows: visit every row instead of the rows some box covers. Finding those
      rows is a min / max over the batch, which on a batch sharded over devices is a
      collective (an all-reduce); with per-sample boxes they are nearly all rows
      anyway. A box of scalars (batch mode) needs no reduction either way.

  Returns:
    Array like `images`: inside each sample's box the partner's pixels, elsewhere
    the sample's own. Equal bit for bit to the mask path.
  """
  if data_format not in ("NHWC", "NCHW"):
    raise ValueError(f"data_format must be 'NHWC' or 'NCHW', got {data_format!r}")
  if images.ndim != 4:
    raise ValueError(f"images must be rank 4 [B, H, W, C], got shape {images.shape}")
  axis_h = 1 if data_format == "NHWC" else 2
  axis_w = axis_h + 1
  batch, height, width = images.shape[0], images.shape[axis_h], images.shape[axis_w]
  if callable(partners):
    gather = partners
  else:
    index = jnp.asarray(partners)
    if index.shape != (batch,):
      raise ValueError(f"partners must be an index array of shape ({batch},), "
                       f"got {index.shape}")
    gather = lambda a: jnp.take(a, index, axis=0)

  scalar_box = all(jnp.ndim(c) == 0 for c in (box.y1, box.y2, box.x1, box.x2))
  if scalar_box:  # one box: its rows, no reduction over the batch
    lo = jnp.asarray(box.y1, jnp.int32)
    hi = jnp.maximum(lo, jnp.asarray(box.y2, jnp.int32))
    hi = jnp.where(jnp.asarray(box.x2) > jnp.asarray(box.x1), hi, lo)
  y1, y2, x1, x2 = (jnp.broadcast_to(jnp.asarray(c, jnp.int32), (batch,))
                    for c in (box.y1, box.y2, box.x1, box.x2))
  # NHWC rows are walked as [B, H, W·C] (box columns x1·C … x2·C): XLA:CPU does not
  # vectorize a select whose innermost axis is 3 channels.
  unit = images.shape[-1] if data_format == "NHWC" else 1
  xs = jnp.arange(width * unit, dtype=jnp.int32)
  cols = (xs >= x1[:, None] * unit) & (xs < x2[:, None] * unit)  # [B, W·unit], built once
  if all_rows:
    lo, hi = jnp.int32(0), jnp.int32(height)
  elif not scalar_box:
    lo, hi = _row_range(y1, y2, height)

  def mask_shape(m):  # [B, T, W·unit] → broadcastable against a [B, T, W·C] / [B, C, T, W] slab
    return m if data_format == "NHWC" else m[:, None]

  t = rows_per_step or _default_rows_per_step(images, axis_h)
  t = min(t, height)

  def body(i, out):
    # Step i owns rows [lo + i·T, lo + (i+1)·T). Near the bottom the slice is shifted
    # up to stay inside the image; rows it re-reads that an earlier step owned are
    # written back unchanged, so every row is mixed exactly once, from unmixed rows.
    first = lo + i * t
    start = jnp.minimum(first, height - t)
    slab = lax.dynamic_slice_in_dim(out, start, t, axis=axis_h)
    r = start + jnp.arange(t, dtype=jnp.int32)  # [T]
    owned = (r >= first) & (r < hi)
    in_rows = (r[None, :] >= y1[:, None]) & (r[None, :] < y2[:, None]) & owned  # [B, T]
    inside = in_rows[:, :, None] & cols[:, None, :]  # [B, T, W·unit]
    mixed = jnp.where(mask_shape(inside), gather(slab), slab)
    return lax.dynamic_update_slice_in_dim(out, mixed, start, axis=axis_h)

  def step_if_needed(i, out):
    # Steps past the box rows skip their slab (a cond costs nothing on a CPU; all rows
    # are visited anyway with `all_rows`, which so needs no cond).
    return lax.cond(lo + i * t < hi, body, lambda i, out: out, i, out)

  # A static trip count, ceil(H / T): no backend has to read a data-dependent loop
  # predicate back from the device (XLA:GPU copies it to the host every iteration).
  steps = -(-height // t)
  step = body if all_rows else step_if_needed
  # XLA's CPU backend computes selects on 16-bit floats in f32, and the loop over a
  # bf16 / f16 batch then copies the whole batch every step (measured: 50 ms a step
  # at 128x224x224x3). Pixels are only copied, so move those as raw 16-bit words;
  # the bitcast costs one pass in and out, not one per step. Other dtypes are left
  # alone: a bitcast of the carried batch would stop XLA rewriting it in place.
  narrow_float = jnp.issubdtype(images.dtype, jnp.floating) and images.dtype.itemsize < 4
  carried = images.reshape(images.shape[:2] + (-1,)) if data_format == "NHWC" else images
  if narrow_float:
    words = lax.bitcast_convert_type(carried, jnp.dtype(f"uint{8 * images.dtype.itemsize}"))
    out = lax.bitcast_convert_type(lax.fori_loop(0, steps, step, words), images.dtype)
  else:
    out = lax.fori_loop(0, steps, step, carried)
  return out.reshape(images.shape)


def _rows_rule(images, index, y1, y2, x1, x2, *, partner: str, data_format: str,
               group_size: int):
  if partner == "permute":
    gather = lambda a: jnp.take(a, index, axis=0)
  else:  # flip / roll of each row slab inside each group: static, no gather
    gather = lambda a: pairing.gather_partners(a, None, partner, len(a) // group_size)
  return paste_rows(images, gather, boxes.Box(y1, y2, x1, x2), data_format=data_format)


def _kernel_rule(images, index, y1, y2, x1, x2, *, partner: str, data_format: str,
                 group_size: int):
  if images.size >= 2**31:  # the kernel's flat pixel offsets are int32
    return _rows_rule(images, index, y1, y2, x1, x2, partner=partner,
                      data_format=data_format, group_size=group_size)
  return paste_pallas.paste_kernel(images, index, boxes.Box(y1, y2, x1, x2),
                                   data_format=data_format, involution=partner == "flip")


# One primitive, lowered per platform. Not `lax.platform_dependent`: its branches are
# all lowered for every export platform, and a Triton `pallas_call` cannot be lowered
# for TPU. A primitive's per-platform rules each lower for their own platform only, so
# `jax.export(..., platforms=["tpu", "cuda"])` carries the kernel for CUDA and the row
# loop for TPU (and CPU). No JVP or transpose rule: not differentiable (nor was the
# earlier data-dependent while loop in reverse mode); the mask path is.
paste_patch_p = jex_core.Primitive("jaxmix_paste_patch")
paste_patch_p.def_abstract_eval(lambda images, *_, **__: images)  # same shape, dtype
paste_patch_p.def_impl(functools.partial(
    jax.jit, static_argnames=("partner", "data_format", "group_size"))(
    lambda *args, **params: paste_patch_p.bind(*args, **params)))  # eager: compiled once
mlir.register_lowering(paste_patch_p, mlir.lower_fun(_rows_rule, multiple_results=False))


def _batch_rule(args, dims, **params):
  """vmap over N batches of B: one batch of N·B whose partners stay in their own B."""
  size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
  images, index, *coords = (
      jnp.broadcast_to(a, (size,) + a.shape) if d is None else jnp.moveaxis(a, d, 0)
      for a, d in zip(args, dims))
  n, b = images.shape[:2]
  index = (index + b * jnp.arange(n, dtype=jnp.int32)[:, None]).reshape(n * b)
  coords = [jnp.broadcast_to(c.reshape(n, -1), (n, b)).reshape(n * b) for c in coords]
  # Flip pairs stay pairs (i <-> B-1-i inside each batch): the same kernel choice holds.
  out = paste_patch_p.bind(images.reshape((n * b,) + images.shape[2:]), index, *coords,
                           **params)  # group_size stays B: partners stay in their batch
  return out.reshape(images.shape), 0


batching.primitive_batchers[paste_patch_p] = _batch_rule


def _cuda_lowering(ctx, *args, **params):
  # `jax.export` refuses the Triton custom call (its format may change with any jaxlib:
  # no compatibility guarantee), so a serialized module carries the row loop instead.
  exporting = getattr(getattr(ctx.module_context, "lowering_parameters", None),
                      "for_export", False)
  rule = _rows_rule if exporting else _kernel_rule
  return mlir.lower_fun(rule, multiple_results=False)(ctx, *args, **params)


mlir.register_lowering(paste_patch_p, _cuda_lowering, platform="cuda")

def paste_patch(images: jax.Array, partner_index: jax.Array, box, *, partner: str,
                data_format: str = "NHWC") -> jax.Array:
  """The patch path for one group of partners, by platform (see the module docstring).

  Args:
    images: [B, H, W, C] (or NCHW), any dtype.
    partner_index: int32 [B]; must be `pairing.partner_index(key, B, partner)`, as
      the row loop re-derives flip and roll partners from `partner` alone.
    box: `Box` of scalars (batch mode) or [B] arrays.
    partner: "flip", "roll" or "permute".
    data_format: "NHWC" or "NCHW".
  """
  coords = [jnp.asarray(c, jnp.int32) for c in (box.y1, box.y2, box.x1, box.x2)]
  return paste_patch_p.bind(images, jnp.asarray(partner_index, jnp.int32), *coords,
                            partner=partner, data_format=data_format,
                            group_size=images.shape[0])


def cutmix_apply(key, batch_size: int, *, partner: str, num_shards: int = 1,
                 data_format: str = "NHWC"):
  """CutMix's apply step (`MixOp.apply`) on the patch path.

  The skeleton (`mixing.mix_batch`) hands apply the gathered partner batch; this
  apply ignores it, so XLA drops that gather, and pastes from partners re-derived with
  the skeleton's documented `key_partner, _ = split(key)`: the same samples as the mask
  path.
  """
  key_partner, _ = jax.random.split(key)
  local = batch_size // num_shards
  # Drawn once, not once per loop step (the kernel reads it; permute's row loop too).
  index = pairing.partner_index(key_partner, batch_size, partner, num_shards)
  if partner == "permute":
    # Gathered inside each group of B / S (as `pairing.gather_partners` does) so a
    # sharded batch needs no all-gather.
    local_index = (index.reshape(num_shards, local)
                   - (jnp.arange(num_shards, dtype=index.dtype) * local)[:, None])

    def partners(a):
      grouped = a.reshape((num_shards, local) + a.shape[1:])
      idx = local_index.reshape(local_index.shape + (1,) * (a.ndim - 1))
      return jnp.take_along_axis(grouped, idx, axis=1).reshape(a.shape)
  else:  # flip / roll: a reshape and a static flip or roll of each row slab
    partners = lambda a: pairing.gather_partners(a, key_partner, partner, num_shards)
  if num_shards == 1:
    return lambda params, x, partner_x: paste_patch(x, index, params["box"], partner=partner,
                                                    data_format=data_format)
  # Sharded: the row loop over all rows (no reduction over devices). Not the kernel: a
  # `pallas_call` has no partitioning rule, so XLA would gather the batch onto each device.
  return lambda params, x, partner_x: paste_rows(x, partners, params["box"],
                                                 data_format=data_format, all_rows=True)
