"""airbench94's CIFAR net (Keller Jordan's cifar10-airbench, 2024), in Flax NNX.

A 2x2 conv + GELU, three conv-pool-BN-GELU-conv-BN-GELU groups (64/256/256), 3x3 max-pool,
linear head scaled by 1/9; ~2M params, fast on a CPU. Conventions as in resnet.py.
"""

from flax import nnx
import jax
import jax.numpy as jnp

class _ConvGroup(nnx.Module):
  """airbench's group: conv3x3 → max-pool 2 → BN → GELU → conv3x3 → BN → GELU."""

  def __init__(self, in_ch, out_ch, *, rngs, dtype, bn_momentum):
    self.conv1 = _dirac_conv(in_ch, out_ch, rngs=rngs, dtype=dtype)
    self.norm1 = _airbench_bn(out_ch, bn_momentum, rngs=rngs, dtype=dtype)
    self.conv2 = _dirac_conv(out_ch, out_ch, rngs=rngs, dtype=dtype)
    self.norm2 = _airbench_bn(out_ch, bn_momentum, rngs=rngs, dtype=dtype)

  def __call__(self, x):
    x = nnx.max_pool(self.conv1(x), (2, 2), strides=(2, 2))
    x = nnx.gelu(self.norm1(x), approximate=False)
    return nnx.gelu(self.norm2(self.conv2(x)), approximate=False)


def _dirac_conv(in_ch, out_ch, *, rngs, dtype):
  """3x3 'same' conv, no bias; the first in_ch filters start as the identity
  (airbench's dirac init: an implicit residual)."""
  conv = nnx.Conv(in_ch, out_ch, (3, 3), padding="SAME", use_bias=False, dtype=dtype,
                  param_dtype=jnp.float32, rngs=rngs)
  n = min(in_ch, out_ch)
  kernel = conv.kernel[...].at[:, :, :, :n].set(0.0)
  conv.kernel[...] = kernel.at[1, 1, jnp.arange(n), jnp.arange(n)].set(1.0)
  return conv


def _airbench_bn(ch, momentum, *, rngs, dtype):
  # airbench: eps 1e-12, running-average momentum 0.6 (PyTorch momentum 0.4); the
  # scale is frozen at 1 there; here it is a parameter initialized to 1.
  return nnx.BatchNorm(ch, momentum=momentum, epsilon=1e-12, dtype=dtype,
                       param_dtype=jnp.float32, rngs=rngs)


class Airbench(nnx.Module):
  """airbench94's network (github.com/KellerJordan/cifar10-airbench, airbench94.py).

  Differences from the original, all in training rather than architecture: the
  2x2 first conv is trained from a standard init (airbench sets it from the patch
  whitening of the training set and freezes it), BatchNorm scales are trainable,
  and airbench's optimizer tricks (bias lr scaling, lookahead, TTA) are not here.
  Input 32x32 → 31 (2x2 valid conv) → 15 → 7 → 3 (pools) → 3x3 max-pool → 1.
  `features(x)` is the [N, 3, 3, 256] map before that pool.
  """

  def __init__(self, num_classes, *, rngs, dtype=jnp.float32, width=64,
               in_channels=3, bn_momentum=0.6, scale=1 / 9):
    self.dtype = dtype
    self.scale = scale
    whiten = 2 * in_channels * 2 * 2
    self.whiten = nnx.Conv(in_channels, whiten, (2, 2), padding="VALID", use_bias=True,
                           dtype=dtype, param_dtype=jnp.float32, rngs=rngs)
    widths = (width, 4 * width, 4 * width)
    chans = (whiten,) + widths
    self.groups = nnx.List([
        _ConvGroup(chans[i], chans[i + 1], rngs=rngs, dtype=dtype,
                   bn_momentum=bn_momentum) for i in range(3)])
    self.head = nnx.Linear(widths[-1], num_classes, use_bias=False, dtype=dtype,
                           param_dtype=jnp.float32, rngs=rngs)

  def features(self, x: jax.Array) -> jax.Array:
    x = nnx.gelu(self.whiten(x.astype(self.dtype)), approximate=False)
    for group in self.groups:
      x = group(x)
    return x

  def __call__(self, x: jax.Array) -> jax.Array:
    f = self.features(x)
    x = jnp.max(f, axis=(1, 2))  # airbench's MaxPool2d(3) on the 3x3 map
    return (self.head(x) * self.scale).astype(jnp.float32)


def airbench(num_classes, *, rngs, dtype=jnp.float32, width=64, in_channels=3):
  return Airbench(num_classes, rngs=rngs, dtype=dtype, width=width,
                  in_channels=in_channels)
