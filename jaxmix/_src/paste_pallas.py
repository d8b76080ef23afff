"""The patch path of CutMix on a GPU: a Pallas (Triton) kernel that copies only box pixels.

Each sample is seen as one flat row of H·W·C pixels (a reshape, no copy); one program
handles one block of that row for one sample (or one partner pair), computes which
pixels of the block lie in the box from their flat index, and loads and stores only
those (masked: masked-off lanes issue no memory traffic). The output aliases the input
(`input_output_aliases`), so with a donated batch nothing else is allocated and only
the box bytes move, against about 3× the batch bytes for the mask path.

In place, a sample's box is overwritten while another program may still have to read
it (its partner's partner). Two cases:
- The partners are an involution (flip, in any number of shards: i ↔ j): the program
  of the pair's lower index reads both boxes (i's box of j, j's box of i) before it
  writes either; the other program of the pair does nothing. One kernel, 2× box bytes.
- Any other index (roll, permute: cycles longer than 2): the partner pixels of every
  box are first copied to a scratch batch (only box pixels are written; the rest of it
  is never touched), then copied into the images. Two kernels, 4× box bytes.

Not for TPU: Mosaic TPU wants (8, 128)-tiled blocks and scalar-prefetched indices, and
this kernel's flat masked blocks and data-dependent partner rows do not lower there;
`paste.paste_patch` runs the row loop on every platform but CUDA (docs/speed.md).

Results are bit for bit those of the mask path: pixels are loaded and stored, never
computed.
"""

import jax
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as pltriton
import jax.numpy as jnp

# `CompilerParams` in jax 0.10.2 and in jax's current source; older releases named it
# `TritonCompilerParams`. Passing it chooses the Triton backend: without it, jax 0.10.2
# lowers Pallas-on-GPU to Mosaic GPU (`jax_pallas_use_mosaic_gpu` defaults to True).
_TRITON_PARAMS = getattr(pltriton, "CompilerParams", None) or getattr(
    pltriton, "TritonCompilerParams")

BLOCK = 2048  # pixels per program: a power of 2 (Triton's block shapes must be)
NUM_WARPS = 4


def _box_mask(start, coords, layout):
  """Which of the BLOCK flat pixels from `start` lie in box `coords` (y1, y2, x1, x2)."""
  (height, width, channels), nchw, size = layout
  flat = start + jnp.arange(BLOCK, dtype=jnp.int32)
  if nchw:  # [C, H, W]
    row, col = (flat // width) % height, flat % width
  else:     # [H, W, C]
    row, col = flat // (width * channels), (flat // channels) % width
  y1, y2, x1, x2 = coords
  return (flat < size) & (row >= y1) & (row < y2) & (col >= x1) & (col < x2)


def _coords(box_refs, i):
  return tuple(pltriton.load(ref.at[i]) for ref in box_refs)


def _block(ref, i, start):
  return ref.at[i, pl.ds(start, BLOCK)]


def _pair_kernel(layout):
  """Program (i, j): if i < p(i), swaps block j of the two boxes of the pair (i, p(i))."""
  def kernel(index_ref, *refs):
    box_refs, out_ref = refs[:4], refs[5]  # refs[4], the input, is aliased to out_ref
    i, start = pl.program_id(0), pl.program_id(1) * BLOCK
    p = pltriton.load(index_ref.at[i])
    leader = i < p  # the pair's other program, and a sample paired with itself, do nothing
    mask_i = _box_mask(start, _coords(box_refs, i), layout) & leader
    mask_p = _box_mask(start, _coords(box_refs, p), layout) & leader
    into_i = pltriton.load(_block(out_ref, p, start), mask=mask_i)
    into_p = pltriton.load(_block(out_ref, i, start), mask=mask_p)
    pltriton.store(_block(out_ref, i, start), into_i, mask=mask_i)
    pltriton.store(_block(out_ref, p, start), into_p, mask=mask_p)
  return kernel


def _gather_kernel(layout):
  """Program (i, j): block j of i's box, read from partner p(i), into `patch_ref[i]`."""
  def kernel(index_ref, *refs):
    box_refs, x_ref, patch_ref = refs[:4], refs[4], refs[5]
    i, start = pl.program_id(0), pl.program_id(1) * BLOCK
    mask = _box_mask(start, _coords(box_refs, i), layout)
    p = pltriton.load(index_ref.at[i])
    pltriton.store(_block(patch_ref, i, start),
                   pltriton.load(_block(x_ref, p, start), mask=mask), mask=mask)
  return kernel


def _scatter_kernel(layout):
  """Program (i, j): block j of i's box, from `patch_ref[i]` into the images."""
  def kernel(*refs):
    box_refs, patch_ref, out_ref = refs[:4], refs[4], refs[6]  # refs[5] aliases out_ref
    i, start = pl.program_id(0), pl.program_id(1) * BLOCK
    mask = _box_mask(start, _coords(box_refs, i), layout)
    pltriton.store(_block(out_ref, i, start),
                   pltriton.load(_block(patch_ref, i, start), mask=mask), mask=mask)
  return kernel


def paste_kernel(images: jax.Array, partner_index: jax.Array, box, *,
                 data_format: str = "NHWC", involution: bool = False,
                 interpret: bool = False) -> jax.Array:
  """`where(box_mask(box), images[partner_index], images)` by a Pallas Triton kernel.

  Args:
    images: [B, H, W, C] (or [B, C, H, W] with `data_format="NCHW"`), any dtype.
    partner_index: int array [B], each sample's partner.
    box: `y1, y2, x1, x2` int scalars (one box) or [B] arrays; half-open, clipped.
    data_format: "NHWC" or "NCHW".
    involution: the caller's promise that `partner_index[partner_index[i]] == i`
      (flip); then one kernel swaps pair boxes. Otherwise two kernels via a scratch.
    interpret: run the kernel in Pallas' interpreter (any backend, slow).

  Returns:
    Array like `images`, in `images`' buffer when donated. Bit for bit the mask path.
  """
  batch = images.shape[0]
  chw = images.shape[1:] if data_format == "NCHW" else None
  hwc = images.shape[1:] if data_format == "NHWC" else (chw[1], chw[2], chw[0])
  size = hwc[0] * hwc[1] * hwc[2]
  layout = (hwc, data_format == "NCHW", size)
  flat = images.reshape(batch, size)
  coords = [jnp.broadcast_to(jnp.asarray(c, jnp.int32), (batch,))
            for c in (box.y1, box.y2, box.x1, box.x2)]
  index = jnp.asarray(partner_index, jnp.int32)
  call = lambda kernel, out, aliases: pl.pallas_call(
      kernel, out_shape=jax.ShapeDtypeStruct(flat.shape, flat.dtype),
      grid=(batch, pl.cdiv(size, BLOCK)), input_output_aliases=aliases,
      compiler_params=_TRITON_PARAMS(num_warps=NUM_WARPS, num_stages=1),
      interpret=interpret, name=out)
  if involution:
    out = call(_pair_kernel(layout), "jaxmix_paste_pairs", {5: 0})(index, *coords, flat)
  else:
    patch = call(_gather_kernel(layout), "jaxmix_paste_gather", {})(index, *coords, flat)
    out = call(_scatter_kernel(layout), "jaxmix_paste_scatter", {5: 0})(*coords, patch, flat)
  return out.reshape(images.shape)
