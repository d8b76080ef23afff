"""A small U-Net in Flax NNX for the segmentation study (per-pixel logits).

  unet   Ronneberger et al. 2015, shrunk for 32×32 images: per level two 3×3 conv-BN-ReLU,
         2×2 max-pool down, nearest-neighbour upsampling + 3×3 conv up, skip connections by
         concatenation, a 1×1 conv to the classes. Default widths (16, 32, 64, 128): four
         levels (32, 16, 8, 4 pixels), 0.54M parameters (the study uses (8, 16, 32, 64):
         0.13M); the 4×4 level sees the whole image, which a pixel's shape class needs.
         `global_context=True` adds PSPNet's image-level pooling branch at the bottleneck.

Like models/resnet.py: NHWC float inputs already normalized, float32 logits [B, H, W, K],
float32 parameters, `model.train()` / `model.eval()` switch BatchNorm between batch and running
statistics (momentum 0.9, epsilon 1e-5 as PyTorch).
"""

from collections.abc import Sequence

from flax import nnx
import jax
import jax.numpy as jnp

_conv_init = nnx.initializers.variance_scaling(2.0, "fan_out", "normal")


class ConvBNReLU(nnx.Module):
  def __init__(self, in_ch: int, out_ch: int, *, rngs: nnx.Rngs, dtype):
    self.conv = nnx.Conv(in_ch, out_ch, (3, 3), padding="SAME", use_bias=False,
                         kernel_init=_conv_init, dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
    self.bn = nnx.BatchNorm(out_ch, momentum=0.9, epsilon=1e-5, dtype=dtype,
                            param_dtype=jnp.float32, rngs=rngs)

  def __call__(self, x):
    return nnx.relu(self.bn(self.conv(x)))


class DoubleConv(nnx.Module):
  def __init__(self, in_ch: int, out_ch: int, *, rngs: nnx.Rngs, dtype):
    self.a = ConvBNReLU(in_ch, out_ch, rngs=rngs, dtype=dtype)
    self.b = ConvBNReLU(out_ch, out_ch, rngs=rngs, dtype=dtype)

  def __call__(self, x):
    return self.b(self.a(x))


def _upsample2(x: jax.Array) -> jax.Array:
  """Nearest-neighbour ×2 (a repeat: exact and cheap on a CPU, unlike a transposed conv)."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


class UNet(nnx.Module):
  """Encoder-decoder with skip connections; H and W must be divisible by 2^(levels − 1)."""

  def __init__(self, num_classes: int, *, rngs: nnx.Rngs, widths: Sequence[int] = (16, 32, 64, 128),
               in_channels: int = 3, global_context: bool = False, dtype=jnp.float32):
    widths = tuple(int(w) for w in widths)
    if len(widths) < 2 or min(widths) < 1:
      raise ValueError(f"widths must hold >= 2 positive ints, got {widths}")
    self.levels = len(widths)
    # Image-level context (PSPNet's global pooling branch): the bottleneck also sees its mean
    # over the image, so every pixel of one object can agree on the object's class.
    self.context = (nnx.Linear(widths[-1], widths[-1], dtype=dtype, param_dtype=jnp.float32,
                               rngs=rngs) if global_context else None)
    chans = (in_channels,) + widths
    self.down = nnx.List([DoubleConv(chans[i], chans[i + 1], rngs=rngs, dtype=dtype)
                          for i in range(len(widths))])
    # Up level i: upsample widths[i+1] → conv to widths[i], concat the skip, double conv.
    self.up_conv = nnx.List([ConvBNReLU(widths[i + 1], widths[i], rngs=rngs, dtype=dtype)
                             for i in range(len(widths) - 1)])
    self.up = nnx.List([DoubleConv(2 * widths[i], widths[i], rngs=rngs, dtype=dtype)
                        for i in range(len(widths) - 1)])
    self.head = nnx.Conv(widths[0], num_classes, (1, 1), dtype=dtype, param_dtype=jnp.float32,
                         rngs=rngs)

  def __call__(self, x):
    factor = 2 ** (self.levels - 1)
    if x.shape[1] % factor or x.shape[2] % factor:
      raise ValueError(f"image height and width must be divisible by {factor}, got "
                       f"{x.shape[1:3]}")
    skips = []
    for i, block in enumerate(self.down):
      if i:
        x = nnx.max_pool(x, (2, 2), strides=(2, 2))
      x = block(x)
      skips.append(x)
    if self.context is not None:
      x = x + nnx.relu(self.context(x.mean(axis=(1, 2), keepdims=True)))
    for i in reversed(range(self.levels - 1)):
      x = self.up_conv[i](_upsample2(x))
      x = self.up[i](jnp.concatenate([skips[i], x], axis=-1))
    return self.head(x).astype(jnp.float32)
